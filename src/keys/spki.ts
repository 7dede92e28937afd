/**
 * SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7): built from the raw public values a token
 * reports (RFC 5480 for EC, RFC 3279 section 2.3.1 for RSA, RFC 8410 for Ed25519), parsed into a
 * `KeyType`, compared by key value rather than by bytes, and used to verify signatures.
 */
import {
  der,
  ecdsaCoordinateSize,
  type SignatureAlgorithm,
  verifySpkiSignature,
} from "../x509/mod.ts";
import { hashLength, type SchemeInfo, schemeInfo, schemeName } from "./schemes.ts";
import type { KeyType } from "./signing_key.ts";

const {
  bitLength,
  bitString,
  bytesEqual,
  children,
  decodeOid,
  decodeUnsignedInteger,
  decodeWholeBitString,
  hex,
  nullValue,
  oid,
  readOne,
  seq,
  TAG,
  unsignedInteger,
} = der;

export const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  x25519: "1.3.101.110",
  x448: "1.3.101.111",
  dsa: "1.2.840.10040.4.1",
  "P-256": "1.2.840.10045.3.1.7",
  "P-384": "1.3.132.0.34",
  "P-521": "1.3.132.0.35",
  secp256k1: "1.3.132.0.10",
} as const;

export type Curve = "P-256" | "P-384" | "P-521";

const CURVE_BY_OID = new Map<string, Curve>([
  [OID["P-256"], "P-256"],
  [OID["P-384"], "P-384"],
  [OID["P-521"], "P-521"],
]);

/** The curve for a named-curve OID, or undefined for one we cannot use. */
export function curveOfOid(dotted: string): Curve | undefined {
  return CURVE_BY_OID.get(dotted);
}

/** A readable name for an algorithm or curve OID found in a key ("secp256k1", "Ed448"). */
export function describeOid(dotted: string): string {
  const names: Record<string, string> = {
    [OID.ed448]: "Ed448",
    [OID.x25519]: "X25519",
    [OID.x448]: "X448",
    [OID.dsa]: "DSA",
    [OID.secp256k1]: "EC secp256k1",
    [OID.rsassaPss]: "RSASSA-PSS (restricted RSA key)",
    "1.2.840.10045.3.1.1": "EC P-192",
    "1.3.132.0.33": "EC P-224",
    "1.3.36.3.3.2.8.1.1.7": "EC brainpoolP256r1",
  };
  return names[dotted] ?? `OID ${dotted}`;
}

/** SPKI for an EC public point (uncompressed `04 || x || y`) on `curve`. */
export function ecSpki(curve: Curve, point: Uint8Array): Uint8Array {
  const size = ecdsaCoordinateSize(curve);
  if (point.length !== 1 + 2 * size || point[0] !== 0x04) {
    throw new RangeError(
      `Invalid ${curve} public point: expected ${1 + 2 * size} bytes starting with 04, ` +
        `found ${point.length} bytes`,
    );
  }
  return seq(seq(oid(OID.ecPublicKey), oid(OID[curve])), bitString(point));
}

/** SPKI for an RSA public key (RFC 3279 section 2.3.1; parameters NULL). */
export function rsaSpki(modulus: Uint8Array, publicExponent: Uint8Array): Uint8Array {
  const key = seq(unsignedInteger(modulus), unsignedInteger(publicExponent));
  return seq(seq(oid(OID.rsaEncryption), nullValue()), bitString(key));
}

/** SPKI for an Ed25519 public key (RFC 8410 section 4; no parameters). */
export function ed25519Spki(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) {
    throw new RangeError(`Invalid Ed25519 public key: ${publicKey.length} bytes, expected 32`);
  }
  return seq(seq(oid(OID.ed25519)), bitString(publicKey));
}

export interface ParsedSpki {
  readonly keyType: KeyType;
  /** The key value in a canonical text form: equal strings mean the same public key. */
  readonly canonical: string;
}

/** Reads an SPKI we can sign with; throws a RangeError naming any other key type. */
export function parseSpki(spki: Uint8Array): ParsedSpki {
  const [algorithm, key] = children(readOne(spki, TAG.SEQUENCE), 2);
  const [algOid, params] = children(algorithm, 1);
  const alg = decodeOid(algOid);
  const bits = decodeWholeBitString(key);
  if (alg === OID.ecPublicKey) {
    const curve = params?.tag === TAG.OID ? curveOfOid(decodeOid(params)) : undefined;
    if (!curve) {
      const found = params?.tag === TAG.OID
        ? describeOid(decodeOid(params))
        : "explicit parameters";
      throw new RangeError(`Unsupported EC public key: ${found}`);
    }
    if (bits[0] !== 0x04) throw new RangeError(`Unsupported EC public key: compressed point`);
    ecSpki(curve, bits); // validates the point length
    return { keyType: { kind: "ec", curve }, canonical: `ec:${curve}:${hex(bits)}` };
  }
  if (alg === OID.rsaEncryption) {
    const [n, e] = children(readOne(bits, TAG.SEQUENCE), 2);
    const modulus = decodeUnsignedInteger(n);
    const exponent = decodeUnsignedInteger(e);
    return {
      keyType: { kind: "rsa", bits: bitLength(modulus) },
      canonical: `rsa:${hex(modulus)}:${hex(exponent)}`,
    };
  }
  if (alg === OID.ed25519) {
    if (bits.length !== 32) throw new RangeError(`Invalid Ed25519 public key length`);
    return { keyType: { kind: "ed25519" }, canonical: `ed25519:${hex(bits)}` };
  }
  throw new RangeError(`Unsupported public key type: ${describeOid(alg)}`);
}

/** Whether two SPKIs hold the same public key (RSA NULL parameters and the like ignored). */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (bytesEqual(a, b)) return true;
  try {
    return parseSpki(a).canonical === parseSpki(b).canonical;
  } catch {
    return false;
  }
}

/** "EC P-256", "RSA 2048", "Ed25519". */
export function describeKeyType(t: KeyType): string {
  if (t.kind === "ec") return `EC ${t.curve}`;
  if (t.kind === "rsa") return `RSA ${t.bits}`;
  return "Ed25519";
}

/**
 * Verifies a TLS-form signature (DER for ECDSA) with the public key in `spki`, using x509's
 * WebCrypto verifier. Throws a RangeError for a scheme this key cannot have produced.
 */
export async function verifySignature(
  spki: Uint8Array,
  scheme: number,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const info = schemeInfo(scheme);
  const { keyType } = parseSpki(spki);
  const algorithm = info && x509Algorithm(info, keyType);
  if (!algorithm) {
    throw new RangeError(
      `Scheme ${schemeName(scheme)} does not fit a ${describeKeyType(keyType)} key`,
    );
  }
  return await verifySpkiSignature(algorithm, spki, message, signature);
}

/** x509's name for the signatures of `info`, when a key of `keyType` can produce them. */
function x509Algorithm(info: SchemeInfo, keyType: KeyType): SignatureAlgorithm | undefined {
  if (info.algorithm === "ecdsa" && keyType.kind === "ec" && info.curve === keyType.curve) {
    return { kind: "ecdsa", hash: info.hash! };
  }
  // rsa_pss_rsae_*: an rsaEncryption key, salt as long as the hash (RFC 8446 section 4.2.3).
  if (info.algorithm === "rsa-pss" && keyType.kind === "rsa" && info.name.includes("rsae")) {
    return { kind: "rsa-pss", hash: info.hash!, saltLength: hashLength(info.hash!) };
  }
  // rsa_pkcs1_* (TLS 1.2 CertificateVerify, RFC 5246 7.4.8).
  if (info.algorithm === "rsa-pkcs1" && keyType.kind === "rsa") {
    return { kind: "rsa-pkcs1", hash: info.hash! };
  }
  if (info.algorithm === "ed25519" && keyType.kind === "ed25519") return { kind: "ed25519" };
  return undefined;
}
