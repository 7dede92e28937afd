/** EncryptedExtensions (RFC 8446 section 4.3.1). */

import { Reader, Writer } from "../codec.ts";
import { decodeExtensions, encodeExtensions, type Extension } from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export interface EncryptedExtensions {
  readonly extensions: readonly Extension[];
}

export function decodeEncryptedExtensions(body: Uint8Array): EncryptedExtensions {
  const r = new Reader(body, "EncryptedExtensions");
  const extensions = decodeExtensions(r, "EncryptedExtensions");
  r.end();
  return { extensions };
}

export function encodeEncryptedExtensions(ee: EncryptedExtensions): Uint8Array {
  const w = new Writer(64);
  encodeExtensions(w, ee.extensions);
  return encodeHandshake(HandshakeType.encrypted_extensions, w.finish());
}
