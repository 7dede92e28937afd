/** CertificateRequest (RFC 8446 section 4.3.2). */

import { Reader, Writer } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import {
  decodeExtensions,
  encodeExtensions,
  type Extension,
  extensionReader,
  ExtensionType,
  findExtension,
} from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export interface CertificateRequest {
  readonly context: Uint8Array;
  readonly extensions: readonly Extension[];
  /** From signature_algorithms, which RFC 8446 4.3.2 makes mandatory. */
  readonly signatureAlgorithms: readonly number[];
  /** From signature_algorithms_cert, when present. */
  readonly signatureAlgorithmsCert: readonly number[] | undefined;
}

export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body, "CertificateRequest");
  const context = r.vector(1, "certificate_request_context");
  const extensions = decodeExtensions(r, "CertificateRequest");
  r.end();
  const sa = findExtension(extensions, ExtensionType.signature_algorithms);
  if (!sa) {
    throw new TlsPeerMisbehavedError(
      "Server sent a CertificateRequest without signature_algorithms",
      "missing_extension",
    );
  }
  const sac = findExtension(extensions, ExtensionType.signature_algorithms_cert);
  return {
    context,
    extensions,
    signatureAlgorithms: parseSchemeList(sa),
    signatureAlgorithmsCert: sac ? parseSchemeList(sac) : undefined,
  };
}

function parseSchemeList(e: Extension): number[] {
  const r = extensionReader(e);
  const list = r.u16List(2, "supported_signature_algorithms", 2);
  r.end();
  return list;
}

export function encodeCertificateRequest(
  context: Uint8Array,
  extensions: readonly Extension[],
): Uint8Array {
  const w = new Writer(64).vector(1, context);
  encodeExtensions(w, extensions);
  return encodeHandshake(HandshakeType.certificate_request, w.finish());
}
