/**
 * Public keys and certificate signatures, checked with WebCrypto from the exact DER (RFC 5280
 * 4.1.1.2, algorithms of RFC 4055 / 5758 / 8410). Accepted: RSA PKCS#1 v1.5 and RSA-PSS with
 * SHA-256/384/512, ECDSA on P-256/P-384/P-521 with SHA-256/384/512, Ed25519. SHA-1 and MD5
 * signatures and RSA keys under 2048 bits are refused.
 */
import {
  bitLength,
  children,
  decodeBitString,
  decodeOid,
  decodeSmallUint,
  decodeUnsignedInteger,
  DerError,
  nullValue,
  oid as encodeOid,
  readOne,
  seq,
  TAG,
  type Tlv,
} from "./der.ts";
import { type EcCurve, ecdsaCoordinateSize, ecdsaDerToRaw } from "./ecdsa_der.ts";

export const MIN_RSA_BITS = 2048;

const HASHES: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384",
  "2.16.840.1.101.3.4.2.3": "SHA-512",
};

const CURVES: Record<string, EcCurve> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
};

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const RSASSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";
const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const ED25519 = "1.3.101.112";

const RSA_PKCS1: Record<string, string> = {
  "1.2.840.113549.1.1.11": "SHA-256",
  "1.2.840.113549.1.1.12": "SHA-384",
  "1.2.840.113549.1.1.13": "SHA-512",
};
const ECDSA: Record<string, string> = {
  "1.2.840.10045.4.3.2": "SHA-256",
  "1.2.840.10045.4.3.3": "SHA-384",
  "1.2.840.10045.4.3.4": "SHA-512",
};
const WEAK: Record<string, string> = {
  "1.2.840.113549.1.1.4": "MD5 with RSA",
  "1.2.840.113549.1.1.5": "SHA-1 with RSA",
  "1.2.840.10045.4.1": "ECDSA with SHA-1",
  "1.2.840.113549.1.1.14": "SHA-224 with RSA",
  "1.2.840.10045.4.3.1": "ECDSA with SHA-224",
};

/** What a SubjectPublicKeyInfo holds. */
export type PublicKeyInfo =
  | { readonly kind: "rsa"; readonly bits: number; readonly pssOnly: boolean }
  | { readonly kind: "ec"; readonly curve: EcCurve }
  | { readonly kind: "ed25519" };

/** A signature algorithm we accept, in WebCrypto terms. */
export type SignatureAlgorithm =
  | { readonly kind: "rsa-pkcs1"; readonly hash: string }
  | { readonly kind: "rsa-pss"; readonly hash: string; readonly saltLength: number }
  | { readonly kind: "ecdsa"; readonly hash: string }
  | { readonly kind: "ed25519" };

/** A key or algorithm we do not accept; `reason` completes "... is not supported: <reason>". */
export class UnsupportedAlgorithmError extends Error {
  override name = "UnsupportedAlgorithmError";
}

/** Reads a DER SubjectPublicKeyInfo. Throws UnsupportedAlgorithmError or DerError. */
export function publicKeyInfo(spki: Uint8Array): PublicKeyInfo {
  const [alg, key] = children(readOne(spki, TAG.SEQUENCE));
  const [oidTlv, params] = children(alg);
  const oid = decodeOid(oidTlv);
  const bits = decodeBitString(key);
  if (bits.unusedBits !== 0) throw new DerError("public key is not whole bytes");
  if (oid === RSA_ENCRYPTION || oid === RSASSA_PSS) {
    if (oid === RSA_ENCRYPTION && params && params.tag !== TAG.NULL) {
      throw new DerError("rsaEncryption parameters are not NULL");
    }
    const [modulus] = children(readOne(bits.bytes, TAG.SEQUENCE));
    const n = decodeUnsignedInteger(modulus);
    return { kind: "rsa", bits: bitLength(n), pssOnly: oid === RSASSA_PSS };
  }
  if (oid === EC_PUBLIC_KEY) {
    const curve = params?.tag === TAG.OID ? CURVES[decodeOid(params)] : undefined;
    if (!curve) {
      throw new UnsupportedAlgorithmError("EC key on a curve other than P-256, P-384, P-521");
    }
    return { kind: "ec", curve };
  }
  if (oid === ED25519) {
    if (params) throw new DerError("Ed25519 key with parameters");
    return { kind: "ed25519" };
  }
  throw new UnsupportedAlgorithmError(`public key algorithm ${oid}`);
}

/** Reads a certificate's signatureAlgorithm. Throws UnsupportedAlgorithmError or DerError. */
export function signatureAlgorithm(alg: Tlv): SignatureAlgorithm {
  const [oidTlv, params, ...rest] = children(alg);
  if (rest.length) throw new DerError("malformed AlgorithmIdentifier");
  const oid = decodeOid(oidTlv);
  if (RSA_PKCS1[oid]) {
    // RFC 4055 5: parameters MUST be NULL; some encoders omit them, which is harmless.
    if (params && params.tag !== TAG.NULL) throw new DerError("RSA parameters are not NULL");
    return { kind: "rsa-pkcs1", hash: RSA_PKCS1[oid] };
  }
  if (ECDSA[oid]) {
    // RFC 5758 3.2: parameters MUST be absent.
    if (params) throw new DerError("ECDSA signature algorithm with parameters");
    return { kind: "ecdsa", hash: ECDSA[oid] };
  }
  if (oid === ED25519) {
    if (params) throw new DerError("Ed25519 signature algorithm with parameters"); // RFC 8410 3
    return { kind: "ed25519" };
  }
  if (oid === RSASSA_PSS) return pssParameters(params);
  if (WEAK[oid]) throw new UnsupportedAlgorithmError(`${WEAK[oid]} signatures are not accepted`);
  throw new UnsupportedAlgorithmError(`signature algorithm ${oid}`);
}

/** RFC 4055 3.1 RSASSA-PSS-params; only MGF1 with the same hash and trailer 1. */
function pssParameters(params: Tlv | undefined): SignatureAlgorithm {
  if (!params || params.tag !== TAG.SEQUENCE) throw new DerError("RSA-PSS without parameters");
  let hash = "SHA-1";
  let mgfHash = "SHA-1";
  let saltLength = 20;
  for (const field of children(params)) {
    const inner = readOne(field.value);
    if (field.tag === 0xa0) hash = hashOf(inner);
    else if (field.tag === 0xa1) {
      const [mgf, mgfParams] = children(inner);
      if (decodeOid(mgf) !== MGF1 || !mgfParams) {
        throw new UnsupportedAlgorithmError("RSA-PSS mask generation other than MGF1");
      }
      mgfHash = hashOf(mgfParams);
    } else if (field.tag === 0xa2) saltLength = decodeSmallUint(inner);
    else if (field.tag === 0xa3) {
      if (decodeSmallUint(inner) !== 1) throw new DerError("RSA-PSS trailer field is not 1");
    } else throw new DerError("malformed RSA-PSS parameters");
  }
  if (hash === "SHA-1") throw new UnsupportedAlgorithmError("RSA-PSS with SHA-1 is not accepted");
  if (mgfHash !== hash) throw new UnsupportedAlgorithmError("RSA-PSS with MGF1 over another hash");
  return { kind: "rsa-pss", hash, saltLength };
}

function hashOf(alg: Tlv): string {
  const [oid, params] = children(alg);
  const text = decodeOid(oid);
  if (text === "1.3.14.3.2.26") return "SHA-1";
  if (params && params.tag !== TAG.NULL) throw new DerError("hash parameters are not NULL");
  const hash = HASHES[text];
  if (!hash) throw new UnsupportedAlgorithmError(`hash algorithm ${text}`);
  return hash;
}

/**
 * Imports a SubjectPublicKeyInfo for verification. An id-RSASSA-PSS key (which WebCrypto may
 * refuse) is imported through an rsaEncryption SPKI carrying the same RSAPublicKey; callers
 * must only use it for PSS, as `publicKeyInfo().pssOnly` says.
 */
export async function importVerifyKey(
  spki: Uint8Array,
  algorithm: RsaHashedImportParams | EcKeyImportParams | Algorithm,
): Promise<CryptoKey> {
  const info = publicKeyInfo(spki);
  let der = spki;
  if (info.kind === "rsa" && info.pssOnly) {
    const [, key] = children(readOne(spki, TAG.SEQUENCE));
    der = seq(seq(encodeOid(RSA_ENCRYPTION), nullValue()), key.bytes);
  }
  return await crypto.subtle.importKey("spki", new Uint8Array(der), algorithm, false, ["verify"]);
}

/**
 * Whether `signature` over `data` verifies with `issuerSpki` under `alg` (false also when the
 * key is of another type than the algorithm). Throws UnsupportedAlgorithmError for a key type
 * we do not accept or a key that is too weak.
 */
export async function verifySignature(
  alg: SignatureAlgorithm,
  issuerSpki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  checkKeyStrength(publicKeyInfo(issuerSpki));
  return await verifySpkiSignature(alg, issuerSpki, data, signature);
}

/**
 * verifySignature() without the key strength floor, for callers that check a key they already
 * hold (keys' `check key`): whether `signature` over `data` verifies with the public key in
 * `spki` under `alg`; false also when the key is of another type than the algorithm or the
 * signature is malformed. Throws UnsupportedAlgorithmError for a key type we do not accept.
 */
export async function verifySpkiSignature(
  alg: SignatureAlgorithm,
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const info = publicKeyInfo(spki);
  let importAlg: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  let verifyAlg: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
  let sig = signature;
  if (alg.kind === "rsa-pkcs1" || alg.kind === "rsa-pss") {
    if (info.kind !== "rsa" || (alg.kind === "rsa-pkcs1" && info.pssOnly)) return false;
    const name = alg.kind === "rsa-pss" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5";
    importAlg = { name, hash: alg.hash } as RsaHashedImportParams;
    verifyAlg = alg.kind === "rsa-pss"
      ? { name, saltLength: alg.saltLength } as RsaPssParams
      : { name };
  } else if (alg.kind === "ecdsa") {
    if (info.kind !== "ec") return false;
    importAlg = { name: "ECDSA", namedCurve: info.curve };
    verifyAlg = { name: "ECDSA", hash: alg.hash } as EcdsaParams;
    try {
      sig = ecdsaDerToRaw(signature, ecdsaCoordinateSize(info.curve));
    } catch {
      return false; // a malformed Ecdsa-Sig-Value is a signature that does not verify
    }
  } else {
    if (info.kind !== "ed25519") return false;
    importAlg = verifyAlg = { name: "Ed25519" };
  }
  const key = await importVerifyKey(spki, importAlg);
  try {
    return await crypto.subtle.verify(verifyAlg, key, new Uint8Array(sig), new Uint8Array(data));
  } catch {
    return false; // a malformed signature value is a signature that does not verify
  }
}

/** Refuses RSA keys below MIN_RSA_BITS (the floor of OpenSSL's default security level 2). */
export function checkKeyStrength(info: PublicKeyInfo): void {
  if (info.kind === "rsa" && info.bits < MIN_RSA_BITS) {
    throw new UnsupportedAlgorithmError(
      `RSA key of ${info.bits} bits is too weak (at least ${MIN_RSA_BITS} needed)`,
    );
  }
}

export function label(alg: SignatureAlgorithm): string {
  switch (alg.kind) {
    case "rsa-pkcs1":
      return `RSA PKCS#1 v1.5 ${alg.hash}`;
    case "rsa-pss":
      return `RSA-PSS ${alg.hash}`;
    case "ecdsa":
      return `ECDSA ${alg.hash}`;
    case "ed25519":
      return "Ed25519";
  }
}

export function keyLabel(info: PublicKeyInfo): string {
  switch (info.kind) {
    case "rsa":
      return `${info.pssOnly ? "an RSA-PSS" : "an RSA"} ${info.bits}-bit key`;
    case "ec":
      return `an ECDSA ${info.curve} key`;
    case "ed25519":
      return "an Ed25519 key";
  }
}
