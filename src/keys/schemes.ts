/**
 * TLS SignatureScheme code points (RFC 8446 section 4.2.3, which kept TLS 1.2's
 * SignatureAndHashAlgorithm values for the same signatures) and what each one means.
 */
import type { KeyType } from "./signing_key.ts";

export const SignatureScheme = {
  rsa_pkcs1_sha256: 0x0401,
  rsa_pkcs1_sha384: 0x0501,
  rsa_pkcs1_sha512: 0x0601,
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  ecdsa_secp521r1_sha512: 0x0603,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pss_pss_sha384: 0x080a,
  rsa_pss_pss_sha512: 0x080b,
} as const;

export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

export interface SchemeInfo {
  readonly code: number;
  readonly name: string;
  readonly algorithm: "ecdsa" | "rsa-pss" | "rsa-pkcs1" | "ed25519";
  /** The hash the scheme signs with; undefined for Ed25519 (it hashes internally). */
  readonly hash?: HashName;
  /** For ECDSA the curve the key must be on (TLS 1.3 binds the curve to the scheme). */
  readonly curve?: "P-256" | "P-384" | "P-521";
}

const INFO: readonly SchemeInfo[] = [
  { code: 0x0401, name: "rsa_pkcs1_sha256", algorithm: "rsa-pkcs1", hash: "SHA-256" },
  { code: 0x0501, name: "rsa_pkcs1_sha384", algorithm: "rsa-pkcs1", hash: "SHA-384" },
  { code: 0x0601, name: "rsa_pkcs1_sha512", algorithm: "rsa-pkcs1", hash: "SHA-512" },
  {
    code: 0x0403,
    name: "ecdsa_secp256r1_sha256",
    algorithm: "ecdsa",
    hash: "SHA-256",
    curve: "P-256",
  },
  {
    code: 0x0503,
    name: "ecdsa_secp384r1_sha384",
    algorithm: "ecdsa",
    hash: "SHA-384",
    curve: "P-384",
  },
  {
    code: 0x0603,
    name: "ecdsa_secp521r1_sha512",
    algorithm: "ecdsa",
    hash: "SHA-512",
    curve: "P-521",
  },
  { code: 0x0804, name: "rsa_pss_rsae_sha256", algorithm: "rsa-pss", hash: "SHA-256" },
  { code: 0x0805, name: "rsa_pss_rsae_sha384", algorithm: "rsa-pss", hash: "SHA-384" },
  { code: 0x0806, name: "rsa_pss_rsae_sha512", algorithm: "rsa-pss", hash: "SHA-512" },
  { code: 0x0807, name: "ed25519", algorithm: "ed25519" },
  { code: 0x0809, name: "rsa_pss_pss_sha256", algorithm: "rsa-pss", hash: "SHA-256" },
  { code: 0x080a, name: "rsa_pss_pss_sha384", algorithm: "rsa-pss", hash: "SHA-384" },
  { code: 0x080b, name: "rsa_pss_pss_sha512", algorithm: "rsa-pss", hash: "SHA-512" },
];

const BY_CODE = new Map(INFO.map((i) => [i.code, i]));

/** What a scheme code means, or undefined for a code we do not know. */
export function schemeInfo(code: number): SchemeInfo | undefined {
  return BY_CODE.get(code);
}

/** The scheme's name, or its code in hex for an unknown one (`0x1234`). */
export function schemeName(code: number): string {
  return BY_CODE.get(code)?.name ?? `0x${code.toString(16).padStart(4, "0")}`;
}

/**
 * The schemes a key of this type can produce, most preferred first. Each ECDSA key offers the
 * one scheme TLS 1.3 binds to its curve (RFC 8446 section 4.2.3; TLS 1.2 would allow other
 * hashes, rustls does not use them either). RSA keys offer the rsae PSS schemes first, then
 * RSA PKCS#1 v1.5, which only TLS 1.2 may use for CertificateVerify (RFC 5246 7.4.8): the TLS
 * client never offers it to a key in a TLS 1.3 handshake, and a key prefers PSS whenever the
 * server accepts both.
 */
export function schemesForKeyType(keyType: KeyType): number[] {
  switch (keyType.kind) {
    case "ec":
      return [
        keyType.curve === "P-256"
          ? SignatureScheme.ecdsa_secp256r1_sha256
          : keyType.curve === "P-384"
          ? SignatureScheme.ecdsa_secp384r1_sha384
          : SignatureScheme.ecdsa_secp521r1_sha512,
      ];
    case "rsa": {
      // RFC 8017 section 9.1.1: PSS needs emLen >= hLen + sLen + 2, with sLen = hLen here.
      const emLen = Math.ceil((keyType.bits - 1) / 8);
      const pss = [
        SignatureScheme.rsa_pss_rsae_sha256,
        SignatureScheme.rsa_pss_rsae_sha384,
        SignatureScheme.rsa_pss_rsae_sha512,
      ].filter((s) => emLen >= 2 * hashLength(schemeInfo(s)!.hash!) + 2);
      // RFC 8017 section 9.2: PKCS#1 v1.5 needs emLen >= DigestInfo (19 + hLen) + 11.
      const pkcs1 = [
        SignatureScheme.rsa_pkcs1_sha256,
        SignatureScheme.rsa_pkcs1_sha384,
        SignatureScheme.rsa_pkcs1_sha512,
      ].filter((s) => emLen >= hashLength(schemeInfo(s)!.hash!) + 30);
      return [...pss, ...pkcs1];
    }
    case "ed25519":
      return [SignatureScheme.ed25519];
  }
}

/** Whether only TLS 1.2 may use `scheme` in a CertificateVerify (RSA PKCS#1 v1.5). */
export function isTls12Only(scheme: number): boolean {
  return schemeInfo(scheme)?.algorithm === "rsa-pkcs1";
}

/** PSS salt length for a hash: TLS 1.3 requires it to equal the digest length (section 4.2.3). */
export function hashLength(hash: HashName): number {
  return hash === "SHA-256" ? 32 : hash === "SHA-384" ? 48 : 64;
}
