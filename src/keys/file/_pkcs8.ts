/**
 * Private key encodings to PKCS#8 (RFC 5208 section 5), the one form WebCrypto imports:
 *
 *   PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier,
 *                                 privateKey OCTET STRING, ... }
 *
 * SEC1 `EC PRIVATE KEY` (RFC 5915 section 3) and PKCS#1 `RSA PRIVATE KEY` (RFC 8017 appendix
 * A.1.2) are wrapped as the `privateKey` OCTET STRING with the matching algorithm identifier.
 */
import { der } from "../../x509/mod.ts";
import { type Curve, curveOfOid, describeOid, OID } from "../spki.ts";

const {
  children,
  decodeOid,
  decodeSmallUint,
  nullValue,
  octetString,
  oid,
  readOne,
  seq,
  smallInteger,
  TAG,
} = der;

export type Pkcs8Algorithm =
  | { readonly kind: "ec"; readonly curve: Curve }
  | { readonly kind: "rsa" }
  | { readonly kind: "ed25519" };

/** Thrown for a well-formed key of a type we cannot sign with; `found` names it. */
export class UnsupportedKeyType extends Error {
  constructor(readonly found: string) {
    super(`unsupported key type ${found}`);
  }
}

/** What algorithm a PKCS#8 PrivateKeyInfo holds (throws UnsupportedKeyType or DerError). */
export function pkcs8Algorithm(der: Uint8Array): Pkcs8Algorithm {
  const [version, algorithm, privateKey] = children(readOne(der, TAG.SEQUENCE), 3);
  const v = decodeSmallUint(version);
  if (v > 1) throw new UnsupportedKeyType(`PKCS#8 version ${v + 1}`);
  const [algOid, params] = children(algorithm, 1);
  const alg = decodeOid(algOid);
  if (alg === OID.rsaEncryption) return { kind: "rsa" };
  if (alg === OID.ed25519) return { kind: "ed25519" };
  if (alg === OID.ecPublicKey) {
    let curveOid = params?.tag === TAG.OID ? decodeOid(params) : undefined;
    // The curve may instead be in the inner SEC1 structure's [0] parameters.
    curveOid ??= sec1CurveOid(privateKey.value);
    if (!curveOid) throw new UnsupportedKeyType("EC with explicit curve parameters");
    const curve = curveOfOid(curveOid);
    if (!curve) throw new UnsupportedKeyType(describeOid(curveOid));
    return { kind: "ec", curve };
  }
  throw new UnsupportedKeyType(describeOid(alg));
}

function sec1CurveOid(sec1: Uint8Array): string | undefined {
  const params = children(readOne(sec1, TAG.SEQUENCE)).find((e) => e.tag === 0xa0);
  if (!params) return undefined;
  const inner = readOne(params.value);
  return inner.tag === TAG.OID ? decodeOid(inner) : undefined;
}

/** SEC1 ECPrivateKey to PKCS#8; the curve comes from its [0] parameters. */
export function sec1ToPkcs8(sec1: Uint8Array): { pkcs8: Uint8Array; curve: Curve } {
  const fields = children(readOne(sec1, TAG.SEQUENCE), 2);
  if (decodeSmallUint(fields[0]) !== 1) throw new UnsupportedKeyType("SEC1 version other than 1");
  const curveOid = sec1CurveOid(sec1);
  if (!curveOid) {
    throw new UnsupportedKeyType("EC key without named curve parameters");
  }
  const curve = curveOfOid(curveOid);
  if (!curve) throw new UnsupportedKeyType(describeOid(curveOid));
  const pkcs8 = seq(
    smallInteger(0),
    seq(oid(OID.ecPublicKey), oid(curveOid)),
    octetString(sec1),
  );
  return { pkcs8, curve };
}

/** PKCS#1 RSAPrivateKey to PKCS#8 (rsaEncryption with NULL parameters). */
export function pkcs1ToPkcs8(pkcs1: Uint8Array): Uint8Array {
  const fields = children(readOne(pkcs1, TAG.SEQUENCE), 9);
  // version 0 = two-prime; 1 = multi-prime (RFC 8017 A.1.2), which WebCrypto cannot import.
  if (decodeSmallUint(fields[0]) !== 0) throw new UnsupportedKeyType("multi-prime RSA");
  return seq(smallInteger(0), seq(oid(OID.rsaEncryption), nullValue()), octetString(pkcs1));
}
