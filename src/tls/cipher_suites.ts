/**
 * The cipher suites we implement: the TLS 1.3 suites (RFC 8446 appendix B.4) and, for servers
 * that stop at TLS 1.2, only what rustls allows there: ECDHE key exchange, ECDSA or RSA
 * signatures, AEADs (RFC 5289 AES-GCM, RFC 7905 ChaCha20-Poly1305). No CBC, no RSA key
 * exchange, no static DH: those suites are never offered, so a server cannot choose them.
 */

import { hex16 } from "./codec.ts";

export const CipherSuite = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
} as const;

/** TLS 1.2 suites (IANA names), the ones we offer. */
export const Tls12CipherSuite = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 0xc02c,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 0xc030,
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca8,
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca9,
} as const;

export type SuiteHash = "SHA-256" | "SHA-384";

/** The protocol versions we speak, as `check tls` names them. */
export type TlsVersion = "TLSv1.3" | "TLSv1.2";

export interface CipherSuiteInfo {
  readonly code: number;
  readonly name: string;
  readonly aead: "AES-GCM" | "ChaCha20-Poly1305";
  /** AEAD key length in bytes. */
  readonly keyLength: number;
  /** The HKDF and transcript hash. */
  readonly hash: SuiteHash;
  /** Hash output length in bytes (HashLen of RFC 8446 section 7.1). */
  readonly hashLength: number;
  /** The protocol version the suite belongs to. */
  readonly version: TlsVersion;
  /** TLS 1.2 only: what the server's certificate and ServerKeyExchange signature must be. */
  readonly auth?: "ECDSA" | "RSA";
}

export const CIPHER_SUITES: readonly CipherSuiteInfo[] = [
  {
    code: 0x1301,
    name: "TLS_AES_128_GCM_SHA256",
    aead: "AES-GCM",
    keyLength: 16,
    hash: "SHA-256",
    hashLength: 32,
    version: "TLSv1.3",
  },
  {
    code: 0x1302,
    name: "TLS_AES_256_GCM_SHA384",
    aead: "AES-GCM",
    keyLength: 32,
    hash: "SHA-384",
    hashLength: 48,
    version: "TLSv1.3",
  },
  {
    code: 0x1303,
    name: "TLS_CHACHA20_POLY1305_SHA256",
    aead: "ChaCha20-Poly1305",
    keyLength: 32,
    hash: "SHA-256",
    hashLength: 32,
    version: "TLSv1.3",
  },
];

/**
 * The TLS 1.2 suites: the hash is the PRF's and the Finished hash (RFC 5246 section 5; SHA-384
 * for the AES-256 suites, RFC 5289 section 3.2). ECDSA suites first, as rustls orders them.
 */
export const TLS12_CIPHER_SUITES: readonly CipherSuiteInfo[] = (
  [
    [0xc02b, "ECDSA", "AES-GCM", 16, "SHA-256"],
    [0xc02c, "ECDSA", "AES-GCM", 32, "SHA-384"],
    [0xcca9, "ECDSA", "ChaCha20-Poly1305", 32, "SHA-256"],
    [0xc02f, "RSA", "AES-GCM", 16, "SHA-256"],
    [0xc030, "RSA", "AES-GCM", 32, "SHA-384"],
    [0xcca8, "RSA", "ChaCha20-Poly1305", 32, "SHA-256"],
  ] as const
).map(([code, auth, aead, keyLength, hash]) => ({
  code,
  name: Object.entries(Tls12CipherSuite).find(([, c]) => c === code)![0],
  aead,
  keyLength,
  hash,
  hashLength: hash === "SHA-256" ? 32 : 48,
  version: "TLSv1.2" as const,
  auth,
}));

/**
 * Our default preference: AES-128-GCM first (fast with AES-NI), then AES-256, then ChaCha;
 * the TLS 1.3 suites before the TLS 1.2 ones.
 */
export const DEFAULT_CIPHER_SUITES: readonly number[] = [
  0x1301, // TLS_AES_128_GCM_SHA256
  0x1302, // TLS_AES_256_GCM_SHA384
  0x1303, // TLS_CHACHA20_POLY1305_SHA256
  ...TLS12_CIPHER_SUITES.map((s) => s.code),
];

/**
 * Every AEAD here uses a 12-byte nonce and a 16-byte tag (RFC 8446 section 5.3; in TLS 1.2,
 * RFC 5288 section 3 and RFC 7905 section 2).
 */
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;

const ALL_SUITES = [...CIPHER_SUITES, ...TLS12_CIPHER_SUITES];
const BY_CODE = new Map(ALL_SUITES.map((s) => [s.code, s]));

export function cipherSuiteInfo(code: number): CipherSuiteInfo | undefined {
  return BY_CODE.get(code);
}

export function cipherSuiteName(code: number): string {
  return BY_CODE.get(code)?.name ?? hex16(code);
}

/** Checks a caller-supplied suite list (tests restrict or reorder it); throws a RangeError. */
export function checkCipherSuites(codes: readonly number[]): readonly number[] {
  if (codes.length === 0) throw new RangeError("Invalid cipherSuites: the list is empty");
  for (const c of codes) {
    if (!BY_CODE.has(c)) {
      throw new RangeError(
        `Invalid cipher suite ${hex16(c)}: supported are ${
          ALL_SUITES.map((s) => s.name).join(", ")
        }`,
      );
    }
  }
  if (new Set(codes).size !== codes.length) {
    throw new RangeError("Invalid cipherSuites: a suite is listed twice");
  }
  return codes;
}
