/**
 * PKCS#10 certificate signing requests (RFC 2986) signed through the `Signer` seam, so a token
 * key signs its own request without leaving the token:
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE { version INTEGER (0), subject Name,
 *                                         subjectPKInfo SubjectPublicKeyInfo,
 *                                         attributes [0] IMPLICIT SET OF Attribute },
 *     signatureAlgorithm AlgorithmIdentifier,
 *     signature BIT STRING }
 *
 * The TLS wire form of our signatures is what X.509 wants too: DER Ecdsa-Sig-Value for ECDSA
 * (RFC 5480 section 2.2 / RFC 3279 section 2.2.3), the raw value for RSA-PSS and Ed25519.
 */
import { der } from "../x509/mod.ts";
import { hashLength, type HashName, schemeInfo, schemeName } from "./schemes.ts";
import type { SigningKey } from "./signing_key.ts";

const { bitString, encodeTlv, explicit, nullValue, oid, seq, set, smallInteger, TAG, utf8String } =
  der;

/** Subject attribute names we accept (RFC 4519 short names), with their OIDs and string types. */
const ATTRIBUTES: Record<string, { oid: string; tag: number; max?: number }> = {
  CN: { oid: "2.5.4.3", tag: TAG.UTF8_STRING, max: 64 },
  C: { oid: "2.5.4.6", tag: TAG.PRINTABLE_STRING, max: 2 },
  L: { oid: "2.5.4.7", tag: TAG.UTF8_STRING, max: 128 },
  ST: { oid: "2.5.4.8", tag: TAG.UTF8_STRING, max: 128 },
  O: { oid: "2.5.4.10", tag: TAG.UTF8_STRING, max: 64 },
  OU: { oid: "2.5.4.11", tag: TAG.UTF8_STRING, max: 64 },
  SERIALNUMBER: { oid: "2.5.4.5", tag: TAG.PRINTABLE_STRING, max: 64 },
  EMAILADDRESS: { oid: "1.2.840.113549.1.9.1", tag: TAG.IA5_STRING, max: 255 },
};

export type Subject = readonly (readonly [name: string, value: string])[];

/**
 * Parses `CN=edge-0001,O=ACME,C=DE` (commas and backslashes inside values escaped with a
 * backslash). The order written is the order in the request. Throws a RangeError naming the
 * bad part.
 */
export function parseSubject(text: string): Subject {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length) current += text[++i];
    else if (c === ",") {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  const out: [string, string][] = [];
  for (const part of parts) {
    const eq = part.indexOf("=");
    const name = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim();
    if (eq < 0 || !ATTRIBUTES[name]) {
      throw new RangeError(
        `Invalid subject "${text}": "${part.trim()}" is not NAME=value with NAME one of ` +
          Object.keys(ATTRIBUTES).join(", "),
      );
    }
    const spec = ATTRIBUTES[name];
    if (!value) throw new RangeError(`Invalid subject "${text}": ${name} is empty`);
    if (spec.max && value.length > spec.max) {
      throw new RangeError(`Invalid subject "${text}": ${name} is longer than ${spec.max}`);
    }
    if (spec.tag === TAG.PRINTABLE_STRING && !/^[A-Za-z0-9 '()+,\-./:=?]+$/.test(value)) {
      throw new RangeError(`Invalid subject "${text}": ${name} "${value}" is not printable ASCII`);
    }
    if (spec.tag === TAG.IA5_STRING && !/^[\x20-\x7e]+$/.test(value)) {
      throw new RangeError(`Invalid subject "${text}": ${name} "${value}" is not ASCII`);
    }
    out.push([name, value]);
  }
  if (!out.some(([n]) => n === "CN")) {
    throw new RangeError(`Invalid subject "${text}": it has no CN`);
  }
  return out;
}

/** X.501 Name: one single-valued RDN per attribute, in the given order. */
export function encodeName(subject: Subject): Uint8Array {
  return seq(
    ...subject.map(([name, value]) => {
      const spec = ATTRIBUTES[name.toUpperCase()];
      const v = spec.tag === TAG.UTF8_STRING
        ? utf8String(value)
        : encodeTlv(spec.tag, new TextEncoder().encode(value));
      return set(seq(oid(spec.oid), v));
    }),
  );
}

const HASH_OID: Record<HashName, string> = {
  "SHA-256": "2.16.840.1.101.3.4.2.1",
  "SHA-384": "2.16.840.1.101.3.4.2.2",
  "SHA-512": "2.16.840.1.101.3.4.2.3",
};

/** The X.509 AlgorithmIdentifier for a TLS scheme's signatures. */
export function signatureAlgorithm(scheme: number): Uint8Array {
  const info = schemeInfo(scheme);
  switch (info?.algorithm) {
    case "ecdsa": {
      // RFC 5758 section 3.2: ecdsa-with-SHA256/384/512, parameters absent.
      const n = { "SHA-256": 2, "SHA-384": 3, "SHA-512": 4 }[info.hash!];
      return seq(oid(`1.2.840.10045.4.3.${n}`));
    }
    case "rsa-pss": {
      // RFC 4055 section 3.1: RSASSA-PSS-params with the hash, MGF1 of the same hash, and
      // saltLength = hash length (trailerField is the DEFAULT 1, so absent).
      const hashAlg = seq(oid(HASH_OID[info.hash!]), nullValue());
      return seq(
        oid("1.2.840.113549.1.1.10"),
        seq(
          explicit(0, hashAlg),
          explicit(1, seq(oid("1.2.840.113549.1.1.8"), hashAlg)),
          explicit(2, smallInteger(hashLength(info.hash!))),
        ),
      );
    }
    case "rsa-pkcs1": {
      // RFC 4055 section 5: sha256/384/512WithRSAEncryption, parameters NULL.
      const n = { "SHA-256": 11, "SHA-384": 12, "SHA-512": 13 }[info.hash!];
      return seq(oid(`1.2.840.113549.1.1.${n}`), nullValue());
    }
    case "ed25519":
      return seq(oid("1.3.101.112")); // RFC 8410 section 3
    default:
      throw new RangeError(`Cannot sign a certificate request with ${schemeName(scheme)}`);
  }
}

/** A DER PKCS#10 request for `subject`, signed with the key's preferred scheme. */
export async function createCsr(
  key: SigningKey,
  subject: Subject,
  scheme = key.schemes[0],
): Promise<Uint8Array> {
  const signer = key.chooseScheme([scheme]);
  if (!signer) {
    throw new RangeError(`Key ${key.description} cannot sign with ${schemeName(scheme)}`);
  }
  const info = seq(
    smallInteger(0),
    encodeName(subject),
    key.publicKeySpki,
    Uint8Array.of(0xa0, 0x00), // attributes [0] IMPLICIT SET OF: none
  );
  const signature = await signer.sign(info);
  return seq(info, signatureAlgorithm(scheme), bitString(signature));
}
