/**
 * CertificateVerify signatures (RFC 8446 section 4.4.3): the signed content, the schemes we
 * offer, and verification of the server's signature with WebCrypto; and the TLS 1.2 server
 * signature over its ECDHE parameters (RFC 5246 7.4.3, RFC 8422 5.4).
 */

import {
  ecdsaCoordinateSize,
  ecdsaDerToRaw,
  hashLength,
  schemeInfo,
  schemeName,
} from "../../keys/mod.ts";
import { publicKeyInfo, type SignatureAlgorithm, verifySpkiSignature } from "../../x509/mod.ts";
import { TlsDecodeError, TlsPeerMisbehavedError } from "../errors.ts";
import { messageOf } from "../errors.ts";

/**
 * Schemes we can verify in a server CertificateVerify, in preference order (RFC 8446 4.2.3).
 * RSA PKCS#1 v1.5 is not allowed in TLS 1.3 handshake signatures.
 */
export const SIGNATURE_SCHEMES: readonly number[] = [
  0x0403, // ecdsa_secp256r1_sha256
  0x0503, // ecdsa_secp384r1_sha384
  0x0603, // ecdsa_secp521r1_sha512
  0x0807, // ed25519
  0x0804, // rsa_pss_rsae_sha256
  0x0805, // rsa_pss_rsae_sha384
  0x0806, // rsa_pss_rsae_sha512
];

/**
 * Schemes we accept in certificate signatures (signature_algorithms_cert): the above plus
 * RSA PKCS#1 v1.5, which most CAs still use to sign certificates (RFC 8446 4.2.3 allows it).
 */
export const CERTIFICATE_SIGNATURE_SCHEMES: readonly number[] = [
  ...SIGNATURE_SCHEMES,
  0x0401, // rsa_pkcs1_sha256
  0x0501, // rsa_pkcs1_sha384
  0x0601, // rsa_pkcs1_sha512
];

/**
 * signature_algorithms when TLS 1.2 may be negotiated: a TLS 1.2 server may also sign its
 * ServerKeyExchange with RSA PKCS#1 v1.5 (RFC 5246 7.4.1.4.1); RFC 8446 4.2.3 lets a TLS 1.3
 * client list those for that purpose. Never SHA-1.
 */
export const TLS12_SIGNATURE_SCHEMES: readonly number[] = CERTIFICATE_SIGNATURE_SCHEMES;

const te = new TextEncoder();
export const SERVER_CONTEXT = "TLS 1.3, server CertificateVerify";
export const CLIENT_CONTEXT = "TLS 1.3, client CertificateVerify";

/** 64 spaces || context string || 0x00 || transcript hash (RFC 8446 section 4.4.3). */
export function certificateVerifyContent(
  context: typeof SERVER_CONTEXT | typeof CLIENT_CONTEXT,
  transcriptHash: Uint8Array,
): Uint8Array {
  const ctx = te.encode(context);
  const out = new Uint8Array(64 + ctx.length + 1 + transcriptHash.length);
  out.fill(0x20, 0, 64);
  out.set(ctx, 64);
  out[64 + ctx.length] = 0;
  out.set(transcriptHash, 64 + ctx.length + 1);
  return out;
}

/**
 * Verifies the server's CertificateVerify signature over `content` with the leaf's public key
 * (DER SubjectPublicKeyInfo). The caller has checked that `scheme` is one we offered.
 * Throws illegal_parameter when the scheme does not fit the key, decrypt_error when the
 * signature is wrong (RFC 8446 4.4.3).
 */
export async function verifyServerSignature(
  scheme: number,
  spki: Uint8Array,
  content: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  const info = schemeInfo(scheme);
  if (!info || info.algorithm === "rsa-pkcs1") {
    throw new TlsPeerMisbehavedError(
      `Server signed its CertificateVerify with ${schemeName(scheme)}: not allowed in TLS 1.3`,
      "illegal_parameter",
    );
  }
  let importAlg: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  let verifyAlg: RsaPssParams | EcdsaParams | Algorithm;
  let sig = signature;
  if (info.algorithm === "ecdsa") {
    importAlg = { name: "ECDSA", namedCurve: info.curve! };
    verifyAlg = { name: "ECDSA", hash: info.hash! };
    try {
      sig = ecdsaDerToRaw(signature, ecdsaCoordinateSize(info.curve!));
    } catch (err) {
      throw new TlsDecodeError(`Cannot decode the server's ECDSA signature: ${messageOf(err)}`, {
        cause: err,
      });
    }
  } else if (info.algorithm === "rsa-pss") {
    importAlg = { name: "RSA-PSS", hash: info.hash! };
    // RFC 8446 4.2.3: the PSS salt length equals the digest length.
    verifyAlg = {
      name: "RSA-PSS",
      saltLength: info.hash === "SHA-256" ? 32 : info.hash === "SHA-384" ? 48 : 64,
    };
  } else {
    importAlg = { name: "Ed25519" };
    verifyAlg = { name: "Ed25519" };
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("spki", spki as BufferSource, importAlg, false, ["verify"]);
  } catch (err) {
    throw new TlsPeerMisbehavedError(
      `Server signed its CertificateVerify with ${info.name}, which does not fit the key in its certificate`,
      "illegal_parameter",
      { cause: err },
    );
  }
  const ok = await crypto.subtle.verify(
    verifyAlg,
    key,
    sig as BufferSource,
    content as BufferSource,
  );
  if (!ok) {
    throw new TlsPeerMisbehavedError(
      `Server's CertificateVerify signature (${info.name}) does not verify with its certificate's key`,
      "decrypt_error",
    );
  }
}

/**
 * Verifies the server's TLS 1.2 ServerKeyExchange signature over `content` (client random,
 * server random, ECDHE parameters) with the leaf's key (RFC 5246 7.4.3, RFC 8422 5.4). The
 * scheme must be one we offered and fit the suite: ECDSA or Ed25519 for ECDHE_ECDSA, RSA
 * PKCS#1 v1.5 or RSA-PSS for ECDHE_RSA. TLS 1.2 does not bind an ECDSA scheme to a curve: the
 * hash is the scheme's, the curve the key's. Misfits are illegal_parameter, a wrong signature
 * decrypt_error.
 */
export async function verifyTls12ServerSignature(
  scheme: number,
  suiteAuth: "ECDSA" | "RSA",
  spki: Uint8Array,
  content: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  const info = schemeInfo(scheme);
  if (!info || !TLS12_SIGNATURE_SCHEMES.includes(scheme)) {
    throw new TlsPeerMisbehavedError(
      `Server signed its ServerKeyExchange with ${schemeName(scheme)}, which we did not offer`,
      "illegal_parameter",
    );
  }
  const fitsSuite = suiteAuth === "ECDSA"
    ? info.algorithm === "ecdsa" || info.algorithm === "ed25519"
    : info.algorithm === "rsa-pkcs1" || info.algorithm === "rsa-pss";
  if (!fitsSuite) {
    throw new TlsPeerMisbehavedError(
      `Server signed its ServerKeyExchange with ${info.name}, which does not fit its ` +
        `ECDHE_${suiteAuth} cipher suite`,
      "illegal_parameter",
    );
  }
  let keyKind: string;
  try {
    keyKind = publicKeyInfo(spki).kind;
  } catch (err) {
    throw new TlsPeerMisbehavedError(
      `Server's certificate key cannot sign its ServerKeyExchange: ${messageOf(err)}`,
      "illegal_parameter",
      { cause: err },
    );
  }
  const alg: SignatureAlgorithm = info.algorithm === "ecdsa"
    ? { kind: "ecdsa", hash: info.hash! }
    : info.algorithm === "rsa-pss"
    ? { kind: "rsa-pss", hash: info.hash!, saltLength: hashLength(info.hash!) }
    : info.algorithm === "rsa-pkcs1"
    ? { kind: "rsa-pkcs1", hash: info.hash! }
    : { kind: "ed25519" };
  const wantKey = alg.kind === "ecdsa" ? "ec" : alg.kind === "ed25519" ? "ed25519" : "rsa";
  if (keyKind !== wantKey) {
    throw new TlsPeerMisbehavedError(
      `Server signed its ServerKeyExchange with ${info.name}, which does not fit the key in ` +
        "its certificate",
      "illegal_parameter",
    );
  }
  if (!await verifySpkiSignature(alg, spki, content, signature)) {
    throw new TlsPeerMisbehavedError(
      `Server's ServerKeyExchange signature (${info.name}) does not verify with its ` +
        "certificate's key",
      "decrypt_error",
    );
  }
}
