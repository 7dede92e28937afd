/**
 * Record protection (RFC 8446 section 5.2 and 5.3): AEAD encryption of TLSInnerPlaintext with a
 * per-record nonce = write_iv XOR the 64-bit record sequence number, and the record header as
 * additional data. Each direction has its own keys and sequence number; a KeyUpdate or a
 * phase change replaces the whole object, which resets the sequence number to 0.
 *
 * The AEADs run on node:crypto, synchronously. WebCrypto's AES-GCM is an async op with a hop
 * to a thread pool: 10-40 us per small record against 3.5-5 us here (bench/micro_aead.ts), and
 * being synchronous lets the record layer open every record already buffered in one go. Both
 * AES implementations are software in Deno 2.9 (about 4 ns per byte on node:crypto), and per
 * byte WebCrypto's is twice as fast: a full 16 KiB AES-256-GCM record takes 30 us there and
 * 70 us here. Outgoing application data under load is packed into full records, so
 * `sealBulk` hands AES-GCM records of 8 KiB or more to WebCrypto (the write path awaits the
 * socket anyway). Incoming records stay on node:crypto: a bridge receives one record per
 * MQTT packet, and the read path stays synchronous.
 *
 * Deno's node:crypto GCM compares the tag with a plain (not constant-time) comparison. A timing
 * oracle on it needs many forgery attempts under one key; TLS 1.3 makes the first failure fatal
 * (bad_record_mac closes the connection, and the next one has new keys), so it gives none.
 */

import { type CipherGCMTypes, createCipheriv, createDecipheriv } from "node:crypto";
import type { CipherSuiteInfo } from "./cipher_suites.ts";
import { IV_LENGTH, TAG_LENGTH } from "./cipher_suites.ts";
import { TlsPeerMisbehavedError } from "./errors.ts";
import type { AnyTrafficSecret, TrafficKeys } from "./key_schedule.ts";
import { ContentType, MAX_PLAINTEXT, RECORD_HEADER_LENGTH } from "./record.ts";

/**
 * The node:crypto algorithm. Typed as the GCM names: the ChaCha20-Poly1305 cipher objects have
 * the same AEAD methods, and the types have no overload for a union of the two.
 */
type AeadName = CipherGCMTypes;

/** An AEAD with a fixed key (node:crypto; one cipher object per record, as its API needs). */
class Aead {
  readonly #algorithm: AeadName;
  readonly #key: Uint8Array;
  readonly #options = { authTagLength: TAG_LENGTH };
  /** Whether sealWebCrypto() can be used (the AES-GCM suites). */
  readonly hasWebCrypto: boolean;
  /** The same key in WebCrypto, imported on first use. */
  #webKey: Promise<CryptoKey> | undefined;

  constructor(suite: CipherSuiteInfo, key: Uint8Array) {
    if (key.length !== suite.keyLength) {
      throw new RangeError(`AEAD key of ${key.length} bytes does not fit ${suite.name}`);
    }
    this.#algorithm = suite.aead === "AES-GCM"
      ? `aes-${suite.keyLength * 8}-gcm` as AeadName
      : "chacha20-poly1305" as AeadName;
    this.#key = key.slice();
    this.hasWebCrypto = suite.aead === "AES-GCM";
  }

  /**
   * Encrypts `buf[at, at + length)` and writes the ciphertext over it and the tag right after
   * it (so `buf` needs TAG_LENGTH more bytes there). `aad` must not overlap that range.
   */
  sealInPlace(nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, at: number, length: number) {
    const c = createCipheriv(this.#algorithm, this.#key, nonce, this.#options);
    c.setAAD(aad, { plaintextLength: length });
    const body = c.update(buf.subarray(at, at + length));
    c.final();
    buf.set(body, at);
    buf.set(c.getAuthTag(), at + length);
  }

  /** sealInPlace() on WebCrypto's AES-GCM; `nonce` is copied before this returns. */
  async sealWebCrypto(
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    at: number,
    length: number,
  ): Promise<void> {
    const params = {
      name: "AES-GCM",
      iv: nonce.slice(),
      additionalData: aad as BufferSource,
    } as AesGcmParams;
    this.#webKey ??= crypto.subtle.importKey("raw", this.#key as BufferSource, "AES-GCM", false, [
      "encrypt",
    ]);
    const sealed = await crypto.subtle.encrypt(
      params,
      await this.#webKey,
      buf.subarray(at, at + length) as BufferSource,
    );
    buf.set(new Uint8Array(sealed), at);
  }

  /** The plaintext (a new node Buffer), or null when authentication fails. */
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array | null {
    if (ct.length < TAG_LENGTH) return null;
    const n = ct.length - TAG_LENGTH;
    try {
      const d = createDecipheriv(this.#algorithm, this.#key, nonce, this.#options);
      d.setAuthTag(ct.subarray(n));
      d.setAAD(aad, { plaintextLength: n });
      const pt = d.update(ct.subarray(0, n));
      d.final(); // throws when the tag does not verify; `pt` is then dropped unread
      return pt;
    } catch {
      return null;
    }
  }
}

/** Records from this size on are sealed faster by WebCrypto (see sealBulk). */
export const WEBCRYPTO_FROM = 8192;

/** Sequence numbers are 64-bit; we stop well before a JS number loses precision. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Base: per-direction keys and sequence number. */
abstract class RecordCipher {
  #seq = 0;
  readonly #iv: Uint8Array;
  /** The nonce buffer, rewritten for each record: the AEAD copies it when a record starts. */
  readonly #nonce = new Uint8Array(IV_LENGTH);

  protected constructor(protected readonly aead: Aead, iv: Uint8Array) {
    if (iv.length !== IV_LENGTH) throw new RangeError(`IV of ${iv.length} bytes, expected 12`);
    this.#iv = iv.slice();
  }

  /** Records protected so far with these keys. */
  get sequence(): number {
    return this.#seq;
  }

  /**
   * The per-record nonce (RFC 8446 section 5.3); advances the sequence number. Valid until the
   * next call: use it at once.
   */
  protected nextNonce(): Uint8Array {
    const seq = this.#seq;
    if (seq >= MAX_SEQUENCE) {
      // RFC 8446 5.3: the sequence number must not wrap; a KeyUpdate resets it long before.
      throw new Error("Record sequence number exhausted: keys must be updated");
    }
    this.#seq = seq + 1;
    const nonce = this.#nonce;
    nonce.set(this.#iv);
    const hi = Math.floor(seq / 0x100000000);
    const lo = seq >>> 0;
    nonce[IV_LENGTH - 8] ^= hi >>> 24;
    nonce[IV_LENGTH - 7] ^= (hi >>> 16) & 0xff;
    nonce[IV_LENGTH - 6] ^= (hi >>> 8) & 0xff;
    nonce[IV_LENGTH - 5] ^= hi & 0xff;
    nonce[IV_LENGTH - 4] ^= lo >>> 24;
    nonce[IV_LENGTH - 3] ^= (lo >>> 16) & 0xff;
    nonce[IV_LENGTH - 2] ^= (lo >>> 8) & 0xff;
    nonce[IV_LENGTH - 1] ^= lo & 0xff;
    return nonce;
  }
}

/** Writes the 5-byte TLSCiphertext header: application_data, 0x0303, length. */
export function writeCiphertextHeader(out: Uint8Array, at: number, length: number): void {
  out[at] = ContentType.application_data;
  out[at + 1] = 0x03;
  out[at + 2] = 0x03;
  out[at + 3] = length >>> 8;
  out[at + 4] = length & 0xff;
}

/** Protects outgoing records of one direction. */
export class RecordEncrypter extends RecordCipher {
  static create(secret: AnyTrafficSecret): RecordEncrypter {
    return RecordEncrypter.fromKeys(secret.suite, secret.trafficKeys());
  }

  static fromKeys(suite: CipherSuiteInfo, keys: TrafficKeys): RecordEncrypter {
    return new RecordEncrypter(new Aead(suite, keys.key), keys.iv);
  }

  /**
   * Protects the record that starts at `buf[at]`: its 5-byte header (the additional data, with
   * the length of the protected body, innerLength + 16) followed by the TLSInnerPlaintext
   * (content || content type || zero padding, at most 2^14 + 256 bytes) of `innerLength`
   * bytes. The plaintext is replaced by the ciphertext and the tag written after it, so `buf`
   * must hold 16 more bytes there.
   */
  sealInPlace(buf: Uint8Array, at: number, innerLength: number): void {
    const bodyAt = at + RECORD_HEADER_LENGTH;
    this.aead.sealInPlace(
      this.nextNonce(),
      buf.subarray(at, bodyAt),
      buf,
      bodyAt,
      innerLength,
    );
  }

  /**
   * sealInPlace() for application data: AES-GCM records of WEBCRYPTO_FROM bytes or more go to
   * WebCrypto, and the promise says when the ciphertext is in `buf` (undefined: done already).
   * The nonce is taken now, so records are numbered in call order however they complete;
   * `buf` must not change until then.
   */
  sealBulk(buf: Uint8Array, at: number, innerLength: number): Promise<void> | undefined {
    if (innerLength < WEBCRYPTO_FROM || !this.aead.hasWebCrypto) {
      this.sealInPlace(buf, at, innerLength);
      return undefined;
    }
    const bodyAt = at + RECORD_HEADER_LENGTH;
    const aad = buf.subarray(at, bodyAt);
    return this.aead.sealWebCrypto(this.nextNonce(), aad, buf, bodyAt, innerLength);
  }

  /**
   * Encrypts one TLSInnerPlaintext built by the caller and returns the record body (ciphertext
   * and tag). `header` must hold the record header of length inner.length + 16.
   */
  seal(header: Uint8Array, inner: Uint8Array): Uint8Array {
    const out = new Uint8Array(inner.length + TAG_LENGTH);
    out.set(inner);
    this.aead.sealInPlace(this.nextNonce(), header, out, 0, inner.length);
    return out;
  }

  /** One whole record of `type` carrying `content` (handshake messages, alerts, KeyUpdate). */
  sealRecord(type: number, content: Uint8Array): Uint8Array {
    if (content.length > MAX_PLAINTEXT) throw new RangeError("Record content exceeds 2^14 bytes");
    const innerLength = content.length + 1;
    const out = new Uint8Array(RECORD_HEADER_LENGTH + innerLength + TAG_LENGTH);
    writeCiphertextHeader(out, 0, innerLength + TAG_LENGTH);
    out.set(content, RECORD_HEADER_LENGTH);
    out[RECORD_HEADER_LENGTH + content.length] = type;
    this.sealInPlace(out, 0, innerLength);
    return out;
  }
}

/** The content of a decrypted record. */
export interface OpenedRecord {
  readonly type: number;
  readonly content: Uint8Array;
}

/** Removes protection from incoming records of one direction. */
export class RecordDecrypter extends RecordCipher {
  static create(secret: AnyTrafficSecret): RecordDecrypter {
    return RecordDecrypter.fromKeys(secret.suite, secret.trafficKeys());
  }

  static fromKeys(suite: CipherSuiteInfo, keys: TrafficKeys): RecordDecrypter {
    return new RecordDecrypter(new Aead(suite, keys.key), keys.iv);
  }

  /**
   * Decrypts a TLSCiphertext whose header (5 bytes, the additional data) and body are given,
   * strips the zero padding and returns the real content type (RFC 8446 section 5.2 and 5.4).
   * The content is a new array (the caller may keep it); `body` is left as it was.
   */
  open(header: Uint8Array, body: Uint8Array): OpenedRecord {
    const inner = this.aead.open(this.nextNonce(), header, body);
    if (inner === null) {
      throw new TlsPeerMisbehavedError(
        "Server sent a record that fails authentication (bad_record_mac)",
        "bad_record_mac",
      );
    }
    // RFC 8446 5.2: TLSInnerPlaintext longer than 2^14 + 1 bytes is a record_overflow.
    if (inner.length > MAX_PLAINTEXT + 1) {
      throw new TlsPeerMisbehavedError(
        `Server sent a record with ${inner.length} bytes of plaintext: more than 2^14 + 1`,
        "record_overflow",
      );
    }
    let i = inner.length - 1;
    while (i >= 0 && inner[i] === 0) i--;
    if (i < 0) {
      // RFC 8446 5.4: all-zero plaintext has no content type.
      throw new TlsPeerMisbehavedError(
        "Server sent an encrypted record without a content type",
        "unexpected_message",
      );
    }
    // A plain Uint8Array over the Buffer's bytes, made once (no Buffer.subarray).
    return { type: inner[i], content: new Uint8Array(inner.buffer, inner.byteOffset, i) };
  }
}
