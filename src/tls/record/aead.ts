/**
 * The AEADs of the TLS 1.3 cipher suites (RFC 8446 section 5.2) with a fixed key: the interface
 * record protection uses, and the node:crypto implementation. The other implementation is
 * OpenSSL's libcrypto through FFI (_libcrypto.ts); aead_backend.ts chooses between them.
 *
 * node:crypto is synchronous but software AES in Deno 2.9 (about 4 ns per byte) and needs a new
 * cipher object per record (3.5-5 us for a small record); WebCrypto's AES-GCM is twice as fast
 * per byte but an async op with a hop to a thread pool (15-40 us for a small record), so this
 * implementation also offers `sealWebCrypto` for large outgoing AES-GCM records.
 *
 * Deno's node:crypto GCM compares the tag with a plain (not constant-time) comparison (OpenSSL
 * uses CRYPTO_memcmp). A timing oracle on it needs many forgery attempts under one key; TLS 1.3
 * makes the first failure fatal (bad_record_mac closes the connection, and the next one has
 * new keys), so it gives none.
 */

import { type CipherGCMTypes, createCipheriv, createDecipheriv } from "node:crypto";
import type { CipherSuiteInfo } from "../cipher_suites.ts";
import { TAG_LENGTH } from "../cipher_suites.ts";
import { TlsLocalError } from "../errors.ts";

/** Which way an AEAD object works: libcrypto's contexts are set up for one direction. */
export type AeadUse = "seal" | "open";

/** One AEAD key, for records of one direction. */
export interface RecordAead {
  /** "libcrypto" or "node:crypto". */
  readonly backend: string;
  /**
   * Encrypts `buf[at, at + length)` and writes the ciphertext over it and the tag right after
   * it (so `buf` needs TAG_LENGTH more bytes there). `aad` must not overlap that range.
   */
  sealInPlace(
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    at: number,
    length: number,
  ): void;
  /** sealInPlace() on WebCrypto (node backend, AES-GCM only); `nonce` is copied at once. */
  readonly sealWebCrypto?: (
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    at: number,
    length: number,
  ) => Promise<void>;
  /** The plaintext of `ct` (ciphertext || tag) in a new array, or null when it fails to open. */
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null;
  /** Forgets the key (freed and wiped where we can); later calls throw. Idempotent. */
  dispose(): void;
}

/** Where record AEADs come from. */
export interface AeadBackend {
  /** "libcrypto" when at least one suite runs there, else "node:crypto". */
  readonly name: string;
  create(suite: CipherSuiteInfo, key: Uint8Array, use: AeadUse): RecordAead;
}

/** The OpenSSL / node:crypto name: AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305. */
export function aeadName(suite: CipherSuiteInfo): string {
  return suite.aead === "AES-GCM" ? `AES-${suite.keyLength * 8}-GCM` : "ChaCha20-Poly1305";
}

export function checkKey(suite: CipherSuiteInfo, key: Uint8Array): void {
  if (key.length !== suite.keyLength) {
    throw new RangeError(`AEAD key of ${key.length} bytes does not fit ${suite.name}`);
  }
}

export function discarded(): TlsLocalError {
  return new TlsLocalError("Cannot protect a record: its keys were discarded", "internal_error");
}

/** node:crypto (one cipher object per record, as its API needs) and WebCrypto for bulk. */
export class NodeAead implements RecordAead {
  readonly backend = "node:crypto";
  /**
   * The node:crypto algorithm. Typed as the GCM names: the ChaCha20-Poly1305 cipher objects
   * have the same AEAD methods, and the types have no overload for a union of the two.
   */
  readonly #algorithm: CipherGCMTypes;
  #key: Uint8Array | undefined;
  readonly #options = { authTagLength: TAG_LENGTH };
  /** The same key in WebCrypto, imported on first use. */
  #webKey: Promise<CryptoKey> | undefined;
  readonly sealWebCrypto: RecordAead["sealWebCrypto"];

  constructor(suite: CipherSuiteInfo, key: Uint8Array) {
    checkKey(suite, key);
    this.#algorithm = aeadName(suite).toLowerCase() as CipherGCMTypes;
    this.#key = key.slice();
    this.sealWebCrypto = suite.aead === "AES-GCM" ? this.#sealWebCrypto : undefined;
  }

  #liveKey(): Uint8Array {
    if (!this.#key) throw discarded();
    return this.#key;
  }

  sealInPlace(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, at: number, length: number) {
    const c = createCipheriv(this.#algorithm, this.#liveKey(), nonce, this.#options);
    c.setAAD(aad, { plaintextLength: length });
    const body = c.update(buf.subarray(at, at + length));
    c.final();
    buf.set(body, at);
    buf.set(c.getAuthTag(), at + length);
  }

  readonly #sealWebCrypto = async (
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    at: number,
    length: number,
  ): Promise<void> => {
    const params = {
      name: "AES-GCM",
      iv: nonce.slice(),
      additionalData: aad as BufferSource,
    } as AesGcmParams;
    // importKey copies the key before it returns, so dispose() may wipe ours afterwards.
    this.#webKey ??= crypto.subtle.importKey(
      "raw",
      this.#liveKey() as BufferSource,
      "AES-GCM",
      false,
      ["encrypt"],
    );
    const sealed = await crypto.subtle.encrypt(
      params,
      await this.#webKey,
      buf.subarray(at, at + length) as BufferSource,
    );
    buf.set(new Uint8Array(sealed), at);
  };

  /** The plaintext (a new node Buffer), or null when authentication fails. */
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null {
    const key = this.#liveKey();
    if (ct.length < TAG_LENGTH) return null;
    const n = ct.length - TAG_LENGTH;
    try {
      const d = createDecipheriv(this.#algorithm, key, nonce, this.#options);
      d.setAuthTag(ct.subarray(n));
      d.setAAD(aad, { plaintextLength: n });
      const pt = d.update(ct.subarray(0, n));
      d.final(); // throws when the tag does not verify; `pt` is then dropped unread
      return pt;
    } catch {
      return null;
    }
  }

  dispose(): void {
    this.#key?.fill(0);
    this.#key = undefined;
  }
}
