/**
 * OpenSSL 3's libcrypto through Deno FFI: the AEADs of the TLS 1.3 suites on the EVP_CIPHER
 * API, one EVP_CIPHER_CTX per key and direction. Chosen and self-tested by aead.ts.
 *
 * Per record, five synchronous calls (about 50 ns each; the rest is the cipher itself):
 *
 * ```
 *   seal                                        open
 *   EVP_CipherInit_ex(ctx, -, -, -, nonce, -1)  EVP_CipherInit_ex(ctx, -, -, -, nonce, -1)
 *   EVP_CipherUpdate(ctx, NULL, aad)            EVP_CIPHER_CTX_ctrl(AEAD_SET_TAG, 16, tag)
 *   EVP_CipherUpdate(ctx, body, body)  in place EVP_CipherUpdate(ctx, NULL, aad)
 *   EVP_CipherFinal_ex                          EVP_CipherUpdate(ctx, out, body)
 *   EVP_CIPHER_CTX_ctrl(AEAD_GET_TAG, 16, tag)  EVP_CipherFinal_ex: 1 only if the tag matches
 * ```
 *
 * Reusing the context is what OpenSSL documents for a new IV under the same key: an init with
 * only an IV keeps the key schedule and resets the AEAD state; OpenSSL refuses a second
 * record under one IV without it. Every return value and output length is checked; an open
 * that fails in any step returns null (the caller's bad_record_mac) and wipes its output.
 * ChaCha20-Poly1305 in OpenSSL compares only as many tag bytes as were last set (none on a
 * fresh context), so the 16-byte SET_TAG on every open is checked like the rest, and the
 * self-test proves a tampered tag is refused.
 *
 * Memory safety, since C sees only addresses:
 * - Buffers go over as "buffer" parameters: Deno passes the address of the view's first byte
 *   (byte offset included) for the synchronous call, and the argument keeps the buffer alive.
 *   Deno builds V8 without on-heap typed arrays (TYPED_ARRAY_MAX_SIZE_IN_HEAP = 0, asserted
 *   in deno ext/ffi/ir.rs) and backing stores never move, so the address is stable; none is
 *   kept after a call. An empty view goes over as NULL, so no call passes one as data.
 * - Every length given to C is the `.length` of the view passed with it, after checking that
 *   the view is as long as the record needs (subarray() clamps silently). Key, nonce and tag
 *   lengths are checked against the suite and against what the fetched cipher reports.
 * - A disposed context is never used: calls after dispose() throw. Contexts are freed by
 *   dispose() (the record layer calls it when keys change or the connection closes) or, for
 *   one dropped without it, by a FinalizationRegistry. EVP_CIPHER_CTX_free cleanses the key
 *   schedule; the key bytes we pass in are the caller's to wipe.
 */

import type { AeadUse, RecordAead } from "./aead.ts";
import { aeadName, checkKey, discarded } from "./aead.ts";
import { type CipherSuiteInfo, IV_LENGTH, TAG_LENGTH } from "../cipher_suites.ts";
import { TlsLocalError } from "../errors.ts";

/** Found by dlopen(3) in the system's library path. */
export const LIBCRYPTO_PATH = "libcrypto.so.3";

// include/openssl/evp.h
const EVP_CTRL_AEAD_SET_IVLEN = 0x9;
const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
/** OPENSSL_VERSION_NUMBER of 3.0.0 (0xMNN00PP0L). */
const OPENSSL_3 = 0x30000000n;
/** Larger than any TLS record (2^14 + 256 bytes) and far below the C `int` lengths. */
const MAX_INPUT = 1 << 24;

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "usize" },
  EVP_CIPHER_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_CIPHER_free: { parameters: ["pointer"], result: "void" },
  EVP_CIPHER_get_key_length: { parameters: ["pointer"], result: "i32" },
  EVP_CIPHER_get_iv_length: { parameters: ["pointer"], result: "i32" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  ERR_clear_error: { parameters: [], result: "void" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Ctx = Deno.PointerObject;

/** A loaded libcrypto with the AEAD ciphers it has. */
export class Libcrypto {
  /** "3.0.22": from OpenSSL_version_num(). */
  readonly version: string;
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #ciphers = new Map<string, Deno.PointerObject>();
  /** Contexts not freed yet: the library must stay loaded while there are any. */
  #live = 0;
  readonly #finalizer = new FinalizationRegistry<Ctx>((ctx) => this.release(ctx));
  /** Scratch for the `int *outl` results (one thread, synchronous calls). */
  readonly outLength = new Int32Array(1);
  /** Where EVP_CipherFinal_ex may write (it writes nothing for these stream AEADs). */
  readonly finalOut = new Uint8Array(32);

  /** Loads the library; throws when it, a symbol or OpenSSL 3 is missing. */
  static open(path: string): Libcrypto {
    const lib = Deno.dlopen(path, SYMBOLS);
    try {
      return new Libcrypto(lib);
    } catch (err) {
      lib.close();
      throw err;
    }
  }

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#lib = lib;
    const num = BigInt(lib.symbols.OpenSSL_version_num());
    const part = (shift: bigint) => Number((num >> shift) & 0xffn);
    this.version = `${part(28n)}.${part(20n)}.${part(4n)}`;
    if (num < OPENSSL_3) throw new Error(`OpenSSL ${this.version} is older than 3.0`);
    for (const [name, keyLength] of AEADS) this.#fetch(name, keyLength);
  }

  get symbols(): Symbols {
    return this.#lib.symbols;
  }

  /** EVP_CIPHER_fetch with the default library context and properties; kept on success. */
  #fetch(name: string, keyLength: number): void {
    const s = this.#lib.symbols;
    const cipher = s.EVP_CIPHER_fetch(null, new TextEncoder().encode(name + "\0"), null);
    if (cipher === null) {
      s.ERR_clear_error();
      return; // e.g. a FIPS-only configuration without ChaCha20
    }
    if (
      s.EVP_CIPHER_get_key_length(cipher) !== keyLength ||
      s.EVP_CIPHER_get_iv_length(cipher) !== IV_LENGTH
    ) {
      s.EVP_CIPHER_free(cipher);
      return;
    }
    this.#ciphers.set(name, cipher);
  }

  supports(suite: CipherSuiteInfo): boolean {
    return this.#ciphers.has(aeadName(suite));
  }

  /** An AEAD context for `key`, set up to seal or to open. */
  create(suite: CipherSuiteInfo, key: Uint8Array, use: AeadUse): RecordAead {
    checkKey(suite, key);
    const cipher = this.#ciphers.get(aeadName(suite));
    if (!cipher) throw new RangeError(`libcrypto has no ${aeadName(suite)}`);
    const s = this.#lib.symbols;
    const ctx = s.EVP_CIPHER_CTX_new();
    if (ctx === null) throw libcryptoError("EVP_CIPHER_CTX_new", s);
    const enc = use === "seal" ? 1 : 0;
    // Cipher, then the IV length (12 is the default; set so that it cannot differ), then the
    // key; each record then sets only its nonce.
    const ok = s.EVP_CipherInit_ex(ctx, cipher, null, null, null, enc) === 1 &&
      s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, IV_LENGTH, null) === 1 &&
      s.EVP_CipherInit_ex(ctx, null, null, key, null, enc) === 1;
    if (!ok) {
      s.EVP_CIPHER_CTX_free(ctx);
      throw libcryptoError("EVP_CipherInit_ex", s);
    }
    this.#live++;
    const aead = new LibcryptoAead(this, ctx, use);
    this.#finalizer.register(aead, ctx, aead);
    return aead;
  }

  /** Frees a context (once: from dispose(), which unregisters it, or from the finalizer). */
  release(ctx: Ctx, owner?: object): void {
    if (owner) this.#finalizer.unregister(owner);
    this.#lib.symbols.EVP_CIPHER_CTX_free(ctx);
    this.#live--;
  }

  /** Unloads the library, unless a context is still alive (then it stays loaded). */
  close(): void {
    if (this.#live > 0) return;
    for (const cipher of this.#ciphers.values()) this.#lib.symbols.EVP_CIPHER_free(cipher);
    this.#ciphers.clear();
    this.#lib.close();
  }
}

/** The OpenSSL algorithm names and key lengths of the TLS 1.3 AEADs. */
const AEADS: readonly (readonly [string, number])[] = [
  ["AES-128-GCM", 16],
  ["AES-256-GCM", 32],
  ["ChaCha20-Poly1305", 32],
];

function libcryptoError(step: string, s: Symbols): TlsLocalError {
  s.ERR_clear_error(); // leave no stale entry for other libcrypto users in the process
  return new TlsLocalError(`Record protection failed in libcrypto: ${step}`, "internal_error");
}

function checkNonceAndAad(nonce: Uint8Array, aad: Uint8Array): void {
  if (nonce.length !== IV_LENGTH) throw new RangeError(`Nonce of ${nonce.length} bytes`);
  if (aad.length > MAX_INPUT) throw new RangeError(`Additional data of ${aad.length} bytes`);
}

/** One EVP_CIPHER_CTX with its key, for one direction. */
class LibcryptoAead implements RecordAead {
  readonly backend = "libcrypto";
  readonly #lib: Libcrypto;
  readonly #s: Symbols;
  readonly #use: AeadUse;
  #ctx: Ctx | null;

  constructor(lib: Libcrypto, ctx: Ctx, use: AeadUse) {
    this.#lib = lib;
    this.#s = lib.symbols;
    this.#ctx = ctx;
    this.#use = use;
  }

  #context(use: AeadUse): Ctx {
    if (this.#ctx === null) throw discarded();
    if (use !== this.#use) throw new Error(`This AEAD context was set up to ${this.#use}`);
    return this.#ctx;
  }

  sealInPlace(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, at: number, length: number) {
    const ctx = this.#context("seal");
    checkNonceAndAad(nonce, aad);
    if (
      !Number.isSafeInteger(at) || !Number.isSafeInteger(length) || at < 0 || length < 0 ||
      length > MAX_INPUT || at + length + TAG_LENGTH > buf.length
    ) {
      throw new RangeError(`Cannot seal ${length} bytes at ${at} in a buffer of ${buf.length}`);
    }
    const end = at + length;
    if (aad.buffer === buf.buffer) {
      const aadAt = aad.byteOffset - buf.byteOffset;
      if (aadAt < end + TAG_LENGTH && aadAt + aad.length > at) {
        throw new RangeError("The additional data overlaps the record it protects");
      }
    }
    const body = buf.subarray(at, end);
    const tag = buf.subarray(end, end + TAG_LENGTH);
    const s = this.#s;
    const outl = this.#lib.outLength;
    if (s.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1) {
      throw libcryptoError("EVP_CipherInit_ex", s);
    }
    if (s.EVP_CipherUpdate(ctx, null, outl, aad, aad.length) !== 1) {
      throw libcryptoError("EVP_CipherUpdate (additional data)", s);
    }
    outl[0] = -1;
    if (
      length > 0 &&
      (s.EVP_CipherUpdate(ctx, body, outl, body, body.length) !== 1 || outl[0] !== length)
    ) {
      throw libcryptoError("EVP_CipherUpdate", s);
    }
    outl[0] = -1;
    if (s.EVP_CipherFinal_ex(ctx, this.#lib.finalOut, outl) !== 1 || outl[0] !== 0) {
      throw libcryptoError("EVP_CipherFinal_ex", s);
    }
    if (s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, tag.length, tag) !== 1) {
      throw libcryptoError("EVP_CIPHER_CTX_ctrl (get tag)", s);
    }
  }

  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null {
    const ctx = this.#context("open");
    checkNonceAndAad(nonce, aad);
    if (ct.length < TAG_LENGTH || ct.length > MAX_INPUT) return null;
    const n = ct.length - TAG_LENGTH;
    const body = ct.subarray(0, n);
    const tag = ct.subarray(n);
    const out = new Uint8Array(n);
    const s = this.#s;
    const outl = this.#lib.outLength;
    outl[0] = -1;
    let ok = s.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) === 1 &&
      s.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag.length, tag) === 1 &&
      s.EVP_CipherUpdate(ctx, null, outl, aad, aad.length) === 1;
    if (ok && n > 0) {
      outl[0] = -1;
      ok = s.EVP_CipherUpdate(ctx, out, outl, body, body.length) === 1 && outl[0] === n;
    }
    if (ok) {
      outl[0] = -1;
      // The tag check: 1 only when it matches (constant-time comparison in OpenSSL).
      ok = s.EVP_CipherFinal_ex(ctx, this.#lib.finalOut, outl) === 1 && outl[0] === 0;
    }
    if (ok) return out;
    out.fill(0); // unauthenticated plaintext goes nowhere
    s.ERR_clear_error();
    return null;
  }

  dispose(): void {
    const ctx = this.#ctx;
    if (ctx === null) return;
    this.#ctx = null;
    this.#lib.release(ctx, this);
  }
}
