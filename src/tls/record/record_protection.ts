/**
 * Record protection (RFC 8446 section 5.2 and 5.3): AEAD encryption of TLSInnerPlaintext with a
 * per-record nonce = write_iv XOR the 64-bit record sequence number, and the record header as
 * additional data. Each direction has its own keys and sequence number; a KeyUpdate or a
 * phase change replaces the whole object, which resets the sequence number to 0, and the record
 * layer disposes of the one replaced.
 *
 * The AEADs come from aead_backend.ts: OpenSSL's libcrypto through FFI when it loads and passes
 * its self-test (synchronous, AES-NI: every record, either way), else node:crypto (synchronous)
 * with WebCrypto for outgoing AES-GCM records of WEBCRYPTO_FROM bytes or more. Being
 * synchronous lets the record layer open every record already buffered in one go.
 */

import type { AeadBackend, RecordAead } from "./aead.ts";
import { aeadBackend } from "./aead_backend.ts";
import type { CipherSuiteInfo } from "../cipher_suites.ts";
import { IV_LENGTH, TAG_LENGTH } from "../cipher_suites.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import type { AnyTrafficSecret, TrafficKeys } from "../key_schedule.ts";
import { ContentType, MAX_PLAINTEXT, RECORD_HEADER_LENGTH } from "./record.ts";

/** On node:crypto, AES-GCM records from this size on are sealed faster by WebCrypto. */
export const WEBCRYPTO_FROM = 8192;

/** Sequence numbers are 64-bit; we stop well before a JS number loses precision. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/**
 * Outgoing protection as the record layer uses it, whichever the version: TLS 1.3 here, TLS
 * 1.2 in record_protection12.ts.
 */
export interface RecordSealer {
  /** Records protected so far with these keys. */
  readonly sequence: number;
  /** "libcrypto" or "node:crypto". */
  readonly backend: string;
  /** Bytes an application_data record adds to its content (header, nonce, type, tag). */
  readonly recordOverhead: number;
  /** Where the content of an application_data record starts, from the record's first byte. */
  readonly contentOffset: number;
  /** One whole record of `type` carrying `content` (at most 2^14 bytes). */
  sealRecord(type: number, content: Uint8Array): Uint8Array;
  /**
   * Protects the application_data record that starts at `buf[at]`, whose `length` bytes of
   * content the caller put at `at + contentOffset`, with room for `recordOverhead` bytes in
   * all: header and trailer are written here. A promise when the ciphertext comes later
   * (WebCrypto), then `buf` must not change until it settles; the sequence number is taken now.
   */
  sealApplicationData(buf: Uint8Array, at: number, length: number): Promise<void> | undefined;
  dispose(): void;
}

/** Incoming protection as the record layer uses it. */
export interface RecordOpener {
  /**
   * True in TLS 1.3, where every protected record is application_data outside and its real
   * type is inside; false in TLS 1.2, where the header carries the real type.
   */
  readonly hidesContentType: boolean;
  /** Removes protection from one record (header and body as received). */
  open(header: Uint8Array, body: Uint8Array): OpenedRecord;
  dispose(): void;
}

/** Base: per-direction keys and sequence number. */
export abstract class RecordCipher {
  #seq = 0;
  readonly #iv: Uint8Array;
  /** The nonce buffer, rewritten for each record: the AEAD copies it when a record starts. */
  readonly #nonce = new Uint8Array(IV_LENGTH);

  protected constructor(protected readonly aead: RecordAead, iv: Uint8Array) {
    if (iv.length !== IV_LENGTH) {
      aead.dispose();
      throw new RangeError(`IV of ${iv.length} bytes, expected 12`);
    }
    this.#iv = iv.slice();
  }

  /** "libcrypto" or "node:crypto". */
  get backend(): string {
    return this.aead.backend;
  }

  /** Forgets the keys (frees the AEAD context); any later record fails. Idempotent. */
  dispose(): void {
    this.aead.dispose();
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

/** Derives the traffic keys of `secret` for `use`, then wipes the key bytes. */
function withTrafficKeys<T>(secret: AnyTrafficSecret, use: (keys: TrafficKeys) => T): T {
  const keys = secret.trafficKeys();
  try {
    return use(keys);
  } finally {
    keys.key.fill(0);
  }
}

/** Protects outgoing records of one direction (TLS 1.3). */
export class RecordEncrypter extends RecordCipher implements RecordSealer {
  /** Header, the content type byte of TLSInnerPlaintext and the tag. */
  readonly recordOverhead = RECORD_HEADER_LENGTH + 1 + TAG_LENGTH;
  readonly contentOffset = RECORD_HEADER_LENGTH;

  /** The keys of `secret`; the key bytes derived for it are wiped once the AEAD has them. */
  static create(secret: AnyTrafficSecret, backend?: AeadBackend): RecordEncrypter {
    return withTrafficKeys(secret, (keys) => RecordEncrypter.fromKeys(secret.suite, keys, backend));
  }

  static fromKeys(
    suite: CipherSuiteInfo,
    keys: TrafficKeys,
    backend: AeadBackend = aeadBackend(),
  ): RecordEncrypter {
    return new RecordEncrypter(backend.create(suite, keys.key, "seal"), keys.iv);
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
   * sealInPlace() for application data: on node:crypto, AES-GCM records of WEBCRYPTO_FROM bytes
   * or more go to WebCrypto, and the promise says when the ciphertext is in `buf` (undefined:
   * done already, as always on libcrypto). The nonce is taken now, so records are numbered in
   * call order however they complete; `buf` must not change until then.
   */
  sealBulk(buf: Uint8Array, at: number, innerLength: number): Promise<void> | undefined {
    const sealWebCrypto = this.aead.sealWebCrypto;
    if (innerLength < WEBCRYPTO_FROM || !sealWebCrypto) {
      this.sealInPlace(buf, at, innerLength);
      return undefined;
    }
    const bodyAt = at + RECORD_HEADER_LENGTH;
    const aad = buf.subarray(at, bodyAt);
    return sealWebCrypto(this.nextNonce(), aad, buf, bodyAt, innerLength);
  }

  /** See RecordSealer: TLSInnerPlaintext is the content and the type byte, without padding. */
  sealApplicationData(buf: Uint8Array, at: number, length: number): Promise<void> | undefined {
    writeCiphertextHeader(buf, at, length + 1 + TAG_LENGTH);
    buf[at + RECORD_HEADER_LENGTH + length] = ContentType.application_data;
    return this.sealBulk(buf, at, length + 1);
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

/** Removes protection from incoming records of one direction (TLS 1.3). */
export class RecordDecrypter extends RecordCipher implements RecordOpener {
  readonly hidesContentType = true;

  /** The keys of `secret`; the key bytes derived for it are wiped once the AEAD has them. */
  static create(secret: AnyTrafficSecret, backend?: AeadBackend): RecordDecrypter {
    return withTrafficKeys(secret, (keys) => RecordDecrypter.fromKeys(secret.suite, keys, backend));
  }

  static fromKeys(
    suite: CipherSuiteInfo,
    keys: TrafficKeys,
    backend: AeadBackend = aeadBackend(),
  ): RecordDecrypter {
    return new RecordDecrypter(backend.create(suite, keys.key, "open"), keys.iv);
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
    // A plain Uint8Array over the bytes (node:crypto gives a Buffer), made once.
    return { type: inner[i], content: new Uint8Array(inner.buffer, inner.byteOffset, i) };
  }
}
