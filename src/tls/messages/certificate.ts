/** Certificate (RFC 8446 section 4.4.2), X.509 certificate type only. */

import { Reader, Writer } from "../codec.ts";
import { decodeExtensions, encodeExtensions, type Extension } from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export interface CertificateEntry {
  /** DER certificate. */
  readonly certData: Uint8Array;
  readonly extensions: readonly Extension[];
}

export interface CertificateMessage {
  readonly context: Uint8Array;
  readonly entries: readonly CertificateEntry[];
}

export function decodeCertificate(body: Uint8Array): CertificateMessage {
  const r = new Reader(body, "Certificate");
  const context = r.vector(1, "certificate_request_context");
  const list = r.sub(3, "certificate_list");
  r.end();
  const entries: CertificateEntry[] = [];
  while (!list.atEnd) {
    const certData = list.vector(3, "cert_data", 1);
    const extensions = decodeExtensions(list, "CertificateEntry");
    entries.push({ certData, extensions });
  }
  return { context, entries };
}

/** Our Certificate: the chain leaf first, no per-entry extensions (we requested none). */
export function encodeCertificate(context: Uint8Array, chain: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(1024).vector(1, context).sub(3, (list) => {
    for (const der of chain) {
      list.vector(3, der);
      encodeExtensions(list, []);
    }
  });
  return encodeHandshake(HandshakeType.certificate, w.finish());
}

/** Encodes a Certificate with given entries (tests: to build server messages). */
export function encodeCertificateEntries(msg: CertificateMessage): Uint8Array {
  const w = new Writer(1024).vector(1, msg.context).sub(3, (list) => {
    for (const e of msg.entries) {
      list.vector(3, e.certData);
      encodeExtensions(list, e.extensions);
    }
  });
  return encodeHandshake(HandshakeType.certificate, w.finish());
}
