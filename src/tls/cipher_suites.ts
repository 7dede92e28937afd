/**
 * The TLS 1.3 cipher suites we implement (RFC 8446 appendix B.4).
 */

import { hex16 } from "./codec.ts";

export const CipherSuite = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
} as const;

export type SuiteHash = "SHA-256" | "SHA-384";

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
}

export const CIPHER_SUITES: readonly CipherSuiteInfo[] = [
  {
    code: 0x1301,
    name: "TLS_AES_128_GCM_SHA256",
    aead: "AES-GCM",
    keyLength: 16,
    hash: "SHA-256",
    hashLength: 32,
  },
  {
    code: 0x1302,
    name: "TLS_AES_256_GCM_SHA384",
    aead: "AES-GCM",
    keyLength: 32,
    hash: "SHA-384",
    hashLength: 48,
  },
  {
    code: 0x1303,
    name: "TLS_CHACHA20_POLY1305_SHA256",
    aead: "ChaCha20-Poly1305",
    keyLength: 32,
    hash: "SHA-256",
    hashLength: 32,
  },
];

/** Our default preference: AES-128-GCM first (fast with AES-NI), then AES-256, then ChaCha. */
export const DEFAULT_CIPHER_SUITES: readonly number[] = [0x1301, 0x1302, 0x1303];

/** Every AEAD in TLS 1.3 uses a 12-byte nonce and a 16-byte tag (RFC 8446 section 5.3). */
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;

const BY_CODE = new Map(CIPHER_SUITES.map((s) => [s.code, s]));

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
          CIPHER_SUITES.map((s) => s.name).join(", ")
        }`,
      );
    }
  }
  if (new Set(codes).size !== codes.length) {
    throw new RangeError("Invalid cipherSuites: a suite is listed twice");
  }
  return codes;
}
