/**
 * Test-only: the fake server's identity (a P-256 key; its "certificate" is a placeholder because
 * the client's chain verifier is replaced) and a client config that trusts it.
 */

import { TrustStore } from "../../x509/mod.ts";
import { DEFAULT_CIPHER_SUITES } from "../cipher_suites.ts";
import type { HandshakeConfig } from "../handshake/mod.ts";
import { systemRandom } from "../random.ts";

export const SERVER_KEYS = await crypto.subtle.generateKey(
  { name: "ECDSA", namedCurve: "P-256" },
  true,
  ["sign", "verify"],
) as CryptoKeyPair;
export const SERVER_SPKI = new Uint8Array(
  await crypto.subtle.exportKey("spki", SERVER_KEYS.publicKey),
);
/** Stands in for a certificate: the client's chain verifier is replaced in these tests. */
export const FAKE_CERTIFICATE = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);

/**
 * A client config for the fake server: its key is trusted directly; TLS 1.3 and TLS 1.2
 * offered, as the product does by default.
 */
export function fakeClientConfig(extra: Partial<HandshakeConfig> = {}): HandshakeConfig {
  return {
    serverName: "server.test",
    sni: "server.test",
    trustStore: TrustStore.fromCertificates([]),
    clientAuth: undefined,
    alpn: undefined,
    cipherSuites: DEFAULT_CIPHER_SUITES,
    groups: [0x001d, 0x0017, 0x0018],
    allowTls12: true,
    random: systemRandom,
    verifyChain: () => Promise.resolve({ leafSpki: SERVER_SPKI, subject: "CN=server.test" }),
    now: undefined,
    ...extra,
  };
}
