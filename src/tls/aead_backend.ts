/**
 * Which AEAD implementation protects records: node:crypto (aead.ts `NodeAead`, with WebCrypto
 * for large outgoing AES-GCM records).
 */

import { type AeadBackend, NodeAead } from "./aead.ts";

/** node:crypto for every suite. */
export const NODE_BACKEND: AeadBackend = {
  name: "node:crypto",
  create: (suite, key) => new NodeAead(suite, key),
};

/** The process's backend. */
export function aeadBackend(): AeadBackend {
  return NODE_BACKEND;
}
