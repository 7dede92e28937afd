/**
 * The TLS 1.2 handshake messages and extensions that TLS 1.3 does not share (RFC 5246 section
 * 7.4, RFC 8422 for ECDHE, RFC 7627 and RFC 5746 for the extensions we require):
 * Certificate without contexts, ServerKeyExchange (ECDHE), CertificateRequest, ServerHelloDone,
 * ClientKeyExchange and HelloRequest. Finished and CertificateVerify have the TLS 1.3 wire form
 * (the latter is RFC 5246's DigitallySigned: SignatureAndHashAlgorithm, then the signature).
 */

import { Reader, Writer } from "../codec.ts";
import { TlsDecodeError, TlsPeerMisbehavedError } from "../errors.ts";
import type { CertificateMessage } from "./certificate.ts";
import { type Extension, extension, extensionReader, ExtensionType } from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

/** ECCurveType named_curve (RFC 8422 section 5.4); explicit curves are deprecated there. */
const NAMED_CURVE = 3;
/** ECPointFormat uncompressed (RFC 8422 section 5.1.2), the only one. */
const UNCOMPRESSED = 0;

// ---- ClientHello extensions ---------------------------------------------------------------

/** extended_master_secret (RFC 7627 section 5.1): empty. */
export function extendedMasterSecretExtension(): Extension {
  return { type: ExtensionType.extended_master_secret, data: new Uint8Array(0) };
}

/** renegotiation_info of an initial handshake: an empty renegotiated_connection (RFC 5746 3.4). */
export function renegotiationInfoExtension(): Extension {
  return extension(ExtensionType.renegotiation_info, (w) => w.u8(0));
}

/** ec_point_formats with uncompressed only (RFC 8422 section 5.1.2). */
export function ecPointFormatsExtension(): Extension {
  return extension(ExtensionType.ec_point_formats, (w) => w.u8(1).u8(UNCOMPRESSED));
}

// ---- ServerHello extensions ---------------------------------------------------------------

/** Whether a server's extension is the empty one RFC 7627 5.2 (or RFC 8422 5.2) expects. */
export function parseEmptyExtension(e: Extension): void {
  extensionReader(e).end();
}

/**
 * renegotiation_info in the ServerHello of an initial handshake: renegotiated_connection must
 * be empty (RFC 5746 section 3.4), else handshake_failure.
 */
export function parseRenegotiationInfo(e: Extension): void {
  const r = extensionReader(e);
  const previous = r.vector(1, "renegotiated_connection");
  r.end();
  if (previous.length !== 0) {
    throw new TlsPeerMisbehavedError(
      "Server sent a non-empty renegotiation_info in an initial handshake",
      "handshake_failure",
    );
  }
}

/** ec_point_formats from the server must include uncompressed (RFC 8422 section 5.2). */
export function parseEcPointFormats(e: Extension): void {
  const r = extensionReader(e);
  const formats = r.vector(1, "ec_point_format_list", 1);
  r.end();
  if (!formats.includes(UNCOMPRESSED)) {
    throw new TlsPeerMisbehavedError(
      "Server's ec_point_formats does not include the uncompressed format",
      "illegal_parameter",
    );
  }
}

// ---- Server messages ----------------------------------------------------------------------

/**
 * Certificate (RFC 5246 section 7.4.2): certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>,
 * in the TLS 1.3 shape (empty context, no entry extensions) so one check serves both.
 */
export function decodeCertificate12(body: Uint8Array): CertificateMessage {
  const r = new Reader(body, "Certificate");
  const list = r.sub(3, "certificate_list");
  r.end();
  const entries = [];
  while (!list.atEnd) entries.push({ certData: list.vector(3, "ASN.1Cert", 1), extensions: [] });
  return { context: new Uint8Array(0), entries };
}

/** Our TLS 1.2 Certificate: the chain, leaf first; empty when we have no key (7.4.6). */
export function encodeCertificate12(chain: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(1024).sub(3, (list) => {
    for (const der of chain) list.vector(3, der);
  });
  return encodeHandshake(HandshakeType.certificate, w.finish());
}

/** ServerKeyExchange for ECDHE (RFC 8422 section 5.4). */
export interface ServerKeyExchange {
  readonly group: number;
  /** The server's ephemeral public key (ECPoint). */
  readonly publicKey: Uint8Array;
  /** ServerECDHParams as sent: what the signature covers after the two randoms. */
  readonly params: Uint8Array;
  /** SignatureAndHashAlgorithm, a SignatureScheme code (RFC 8446 4.2.3 kept the codes). */
  readonly scheme: number;
  readonly signature: Uint8Array;
}

export function decodeServerKeyExchange(body: Uint8Array): ServerKeyExchange {
  const r = new Reader(body, "ServerKeyExchange");
  const curveType = r.u8("curve_type");
  if (curveType !== NAMED_CURVE) {
    throw new TlsPeerMisbehavedError(
      `Server sent ECDHE parameters of curve type ${curveType}, not a named curve`,
      "illegal_parameter",
    );
  }
  const group = r.u16("namedcurve");
  const publicKey = r.vector(1, "public", 1);
  const params = body.subarray(0, 4 + publicKey.length);
  const scheme = r.u16("signature algorithm");
  const signature = r.vector(2, "signature", 1);
  r.end();
  return { group, publicKey, params, scheme, signature };
}

/** Encodes a ServerKeyExchange (tests: the fake server). */
export function encodeServerKeyExchange(
  ske: Omit<ServerKeyExchange, "params">,
): { message: Uint8Array; params: Uint8Array } {
  const params = new Writer(8 + ske.publicKey.length).u8(NAMED_CURVE).u16(ske.group)
    .vector(1, ske.publicKey).finish().slice();
  const w = new Writer(params.length + 4 + ske.signature.length).bytes(params).u16(ske.scheme)
    .vector(2, ske.signature);
  return { message: encodeHandshake(HandshakeType.server_key_exchange, w.finish()), params };
}

/** The content a ServerKeyExchange signature covers (RFC 8422 5.4, RFC 5246 7.4.3). */
export function serverKeyExchangeContent(
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  params: Uint8Array,
): Uint8Array {
  return new Writer(64 + params.length).bytes(clientRandom).bytes(serverRandom).bytes(params)
    .finish();
}

/** CertificateRequest (RFC 5246 section 7.4.4). */
export interface CertificateRequest12 {
  /** ClientCertificateType values: rsa_sign (1), ecdsa_sign (64), ... */
  readonly certificateTypes: readonly number[];
  readonly signatureAlgorithms: readonly number[];
  /** How many distinguished names the server listed (we send our one certificate anyway). */
  readonly authorities: number;
}

export function decodeCertificateRequest12(body: Uint8Array): CertificateRequest12 {
  const r = new Reader(body, "CertificateRequest");
  const certificateTypes = [...r.vector(1, "certificate_types", 1)];
  const signatureAlgorithms = r.u16List(2, "supported_signature_algorithms", 2);
  const names = r.sub(2, "certificate_authorities");
  r.end();
  let authorities = 0;
  while (!names.atEnd) {
    names.vector(2, "DistinguishedName", 1);
    authorities++;
  }
  return { certificateTypes, signatureAlgorithms, authorities };
}

/** Encodes a CertificateRequest without authorities (tests: the fake server). */
export function encodeCertificateRequest12(
  certificateTypes: readonly number[],
  signatureAlgorithms: readonly number[],
): Uint8Array {
  const w = new Writer(64).vector(1, new Uint8Array(certificateTypes))
    .u16List(2, signatureAlgorithms).u16(0);
  return encodeHandshake(HandshakeType.certificate_request, w.finish());
}

/** ServerHelloDone and HelloRequest have empty bodies (RFC 5246 7.4.5, 7.4.1.1). */
export function decodeEmptyMessage(body: Uint8Array, what: string): void {
  if (body.length !== 0) {
    throw new TlsDecodeError(`Cannot decode ${what}: ${body.length} bytes, expected none`);
  }
}

export function encodeServerHelloDone(): Uint8Array {
  return encodeHandshake(HandshakeType.server_hello_done, new Uint8Array(0));
}

// ---- Client messages ----------------------------------------------------------------------

/** ClientKeyExchange for ECDHE: our ephemeral public key as an ECPoint (RFC 8422 5.7). */
export function encodeClientKeyExchange(publicKey: Uint8Array): Uint8Array {
  const w = new Writer(2 + publicKey.length).vector(1, publicKey);
  return encodeHandshake(HandshakeType.client_key_exchange, w.finish());
}

/** The ECPoint of a ClientKeyExchange (tests: the fake server). */
export function decodeClientKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body, "ClientKeyExchange");
  const point = r.vector(1, "ecdh_Yc", 1);
  r.end();
  return point;
}
