/**
 * Record protection (RFC 8446 section 5.2 and 5.3): AEAD encryption of TLSInnerPlaintext with a
 * per-record nonce = write_iv XOR the 64-bit record sequence number, and the record header as
 * additional data. Each direction has its own keys and sequence number; a KeyUpdate or a
 * phase change replaces the whole object, which resets the sequence number to 0.
 *
 * AES-GCM runs on WebCrypto; ChaCha20-Poly1305 on node:crypto (WebCrypto lacks it).
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import type { CipherSuiteInfo } from "./cipher_suites.ts";
import { IV_LENGTH, TAG_LENGTH } from "./cipher_suites.ts";
import { TlsPeerMisbehavedError } from "./errors.ts";
import type { AnyTrafficSecret, TrafficKeys } from "./key_schedule.ts";
import { ContentType, MAX_PLAINTEXT, RECORD_HEADER_LENGTH } from "./record.ts";

/** An AEAD with a fixed key. `open` returns null when authentication fails. */
interface Aead {
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | null>;
}

class AesGcm implements Aead {
  constructor(private readonly key: CryptoKey) {}

  static async create(key: Uint8Array): Promise<AesGcm> {
    const k = await crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    return new AesGcm(k);
  }

  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource },
      this.key,
      plaintext as BufferSource,
    );
    return new Uint8Array(ct);
  }

  async open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array | null> {
    try {
      const pt = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource },
        this.key,
        ct as BufferSource,
      );
      return new Uint8Array(pt);
    } catch {
      return null;
    }
  }
}

class ChaCha20Poly1305 implements Aead {
  constructor(private readonly key: Uint8Array) {}

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const c = createCipheriv("chacha20-poly1305", this.key, nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    const out = new Uint8Array(body.length + TAG_LENGTH);
    out.set(body);
    out.set(c.getAuthTag(), body.length);
    return Promise.resolve(out);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array | null> {
    if (ct.length < TAG_LENGTH) return Promise.resolve(null);
    try {
      const d = createDecipheriv("chacha20-poly1305", this.key, nonce, {
        authTagLength: TAG_LENGTH,
      });
      d.setAuthTag(ct.subarray(ct.length - TAG_LENGTH));
      d.setAAD(aad, { plaintextLength: ct.length - TAG_LENGTH });
      const pt = d.update(ct.subarray(0, ct.length - TAG_LENGTH));
      d.final(); // throws when the tag does not verify
      return Promise.resolve(new Uint8Array(pt));
    } catch {
      return Promise.resolve(null);
    }
  }
}

async function createAead(suite: CipherSuiteInfo, key: Uint8Array): Promise<Aead> {
  return suite.aead === "AES-GCM" ? await AesGcm.create(key) : new ChaCha20Poly1305(key);
}

/** Sequence numbers are 64-bit; we stop well before a JS number loses precision. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Base: per-direction keys and sequence number. */
abstract class RecordCipher {
  #seq = 0;
  readonly #iv: Uint8Array;

  protected constructor(protected readonly aead: Aead, iv: Uint8Array) {
    this.#iv = iv;
  }

  /** Records protected so far with these keys. */
  get sequence(): number {
    return this.#seq;
  }

  /** The per-record nonce (RFC 8446 section 5.3); advances the sequence number. */
  protected nextNonce(): Uint8Array {
    const seq = this.#seq;
    if (seq >= MAX_SEQUENCE) {
      // RFC 8446 5.3: the sequence number must not wrap; a KeyUpdate resets it long before.
      throw new Error("Record sequence number exhausted: keys must be updated");
    }
    this.#seq = seq + 1;
    const nonce = this.#iv.slice();
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
  static create(secret: AnyTrafficSecret): Promise<RecordEncrypter> {
    return RecordEncrypter.fromKeys(secret.suite, secret.trafficKeys());
  }

  static async fromKeys(suite: CipherSuiteInfo, keys: TrafficKeys): Promise<RecordEncrypter> {
    return new RecordEncrypter(await createAead(suite, keys.key), keys.iv);
  }

  /**
   * Encrypts one TLSInnerPlaintext (content || content type || zero padding; the caller builds
   * it, at most 2^14 + 1 bytes without padding) and returns the encrypted record body (ciphertext
   * and tag). `header` must already hold the record header of length inner.length + 16: it is
   * the additional data. The nonce is taken synchronously, so records are numbered in call order
   * even when several seal() calls run at once. `inner` may be reused once this returns.
   */
  seal(header: Uint8Array, inner: Uint8Array): Promise<Uint8Array> {
    return this.aead.seal(this.nextNonce(), header, inner);
  }

  /** One whole record of `type` carrying `content` (handshake messages, alerts, KeyUpdate). */
  async sealRecord(type: number, content: Uint8Array): Promise<Uint8Array> {
    if (content.length > MAX_PLAINTEXT) throw new RangeError("Record content exceeds 2^14 bytes");
    const inner = new Uint8Array(content.length + 1);
    inner.set(content);
    inner[content.length] = type;
    const out = new Uint8Array(RECORD_HEADER_LENGTH + inner.length + TAG_LENGTH);
    writeCiphertextHeader(out, 0, inner.length + TAG_LENGTH);
    const body = await this.seal(out.subarray(0, RECORD_HEADER_LENGTH), inner);
    out.set(body, RECORD_HEADER_LENGTH);
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
  static create(secret: AnyTrafficSecret): Promise<RecordDecrypter> {
    return RecordDecrypter.fromKeys(secret.suite, secret.trafficKeys());
  }

  static async fromKeys(suite: CipherSuiteInfo, keys: TrafficKeys): Promise<RecordDecrypter> {
    return new RecordDecrypter(await createAead(suite, keys.key), keys.iv);
  }

  /**
   * Decrypts a TLSCiphertext whose header (5 bytes, the additional data) and body are given,
   * strips the zero padding and returns the real content type (RFC 8446 section 5.2 and 5.4).
   */
  async open(header: Uint8Array, body: Uint8Array): Promise<OpenedRecord> {
    const inner = await this.aead.open(this.nextNonce(), header, body);
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
    return { type: inner[i], content: inner.subarray(0, i) };
  }
}
