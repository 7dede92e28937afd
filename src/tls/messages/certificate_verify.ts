/** CertificateVerify (RFC 8446 section 4.4.3). */

import { Reader, Writer } from "../codec.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export interface CertificateVerify {
  readonly scheme: number;
  readonly signature: Uint8Array;
}

export function decodeCertificateVerify(body: Uint8Array): CertificateVerify {
  const r = new Reader(body, "CertificateVerify");
  const scheme = r.u16("algorithm");
  const signature = r.vector(2, "signature");
  r.end();
  return { scheme, signature };
}

export function encodeCertificateVerify(cv: CertificateVerify): Uint8Array {
  const w = new Writer(16 + cv.signature.length).u16(cv.scheme).vector(2, cv.signature);
  return encodeHandshake(HandshakeType.certificate_verify, w.finish());
}
