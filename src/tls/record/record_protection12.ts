/**
 * TLS 1.2 record protection for the AEAD suites (RFC 5246 section 6.2.3.3):
 *
 * ```
 *   additional_data = seq_num (8) || type (1) || version (2) || plaintext length (2)
 *
 *   AES-GCM (RFC 5288 3):            nonce = salt (4, from the key block) || explicit (8)
 *     fragment = explicit nonce (8) || ciphertext || tag (16); our explicit nonce is the
 *     sequence number (as RFC 9325 4.4 recommends), the server's is read from each record
 *   ChaCha20-Poly1305 (RFC 7905 2):  nonce = IV (12, from the key block) XOR (0^4 || seq_num)
 *     fragment = ciphertext || tag (16)
 * ```
 *
 * Unlike TLS 1.3 the record keeps its real content type and has no padding. Both nonces come
 * from the sequence number as in TLS 1.3 (RecordCipher): for AES-GCM the 12-byte IV is the salt
 * followed by zeros, so IV XOR sequence is salt || sequence. Same AEAD objects and backends as
 * TLS 1.3 (aead_backend.ts: libcrypto when it loads, else node:crypto).
 */

import type { AeadBackend, RecordAead } from "./aead.ts";
import { aeadBackend } from "./aead_backend.ts";
import { type CipherSuiteInfo, IV_LENGTH, TAG_LENGTH } from "../cipher_suites.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import type { Tls12TrafficKeys } from "../prf.ts";
import { ContentType, MAX_PLAINTEXT, RECORD_HEADER_LENGTH } from "./record.ts";
import {
  type OpenedRecord,
  RecordCipher,
  type RecordOpener,
  type RecordSealer,
} from "./record_protection.ts";

/** Length of the explicit nonce AES-GCM records carry (RFC 5288 section 3). */
const GCM_EXPLICIT_NONCE = 8;
/** Length of the additional data (RFC 5246 section 6.2.3.3). */
const AAD_LENGTH = 13;

/** The 12-byte IV the nonce is made from: salt || 0^8 for AES-GCM, the IV for ChaCha20. */
function nonceBase(suite: CipherSuiteInfo, fixedIv: Uint8Array): Uint8Array {
  const want = suite.aead === "AES-GCM" ? 4 : IV_LENGTH;
  if (fixedIv.length !== want) {
    throw new RangeError(`Fixed IV of ${fixedIv.length} bytes does not fit ${suite.name}`);
  }
  const iv = new Uint8Array(IV_LENGTH);
  iv.set(fixedIv);
  return iv;
}

/** additional_data for the record numbered `seq` of `type` with `length` bytes of plaintext. */
function additionalData(seq: number, type: number, version: Uint8Array, length: number) {
  const aad = new Uint8Array(AAD_LENGTH);
  const view = new DataView(aad.buffer);
  view.setUint32(0, Math.floor(seq / 0x100000000));
  view.setUint32(4, seq >>> 0);
  aad[8] = type;
  aad[9] = version[0];
  aad[10] = version[1];
  aad[11] = length >>> 8;
  aad[12] = length & 0xff;
  return aad;
}

const TLS12_VERSION = new Uint8Array([0x03, 0x03]);

/** Protects our records under TLS 1.2 keys. */
export class Tls12RecordEncrypter extends RecordCipher implements RecordSealer {
  readonly contentOffset: number;
  readonly recordOverhead: number;
  readonly #explicit: number;

  private constructor(suite: CipherSuiteInfo, aead: RecordAead, iv: Uint8Array) {
    super(aead, iv);
    this.#explicit = suite.aead === "AES-GCM" ? GCM_EXPLICIT_NONCE : 0;
    this.contentOffset = RECORD_HEADER_LENGTH + this.#explicit;
    this.recordOverhead = RECORD_HEADER_LENGTH + this.#explicit + TAG_LENGTH;
  }

  /** The client write keys of the key block; the key bytes are wiped once the AEAD has them. */
  static create(
    suite: CipherSuiteInfo,
    keys: Tls12TrafficKeys,
    backend: AeadBackend = aeadBackend(),
  ): Tls12RecordEncrypter {
    try {
      const iv = nonceBase(suite, keys.fixedIv);
      return new Tls12RecordEncrypter(suite, backend.create(suite, keys.key, "seal"), iv);
    } finally {
      keys.key.fill(0);
    }
  }

  /** See RecordSealer: header, explicit nonce (AES-GCM), ciphertext, tag. */
  sealApplicationData(buf: Uint8Array, at: number, length: number): Promise<void> | undefined {
    this.#seal(buf, at, ContentType.application_data, length);
    return undefined;
  }

  sealRecord(type: number, content: Uint8Array): Uint8Array {
    if (content.length > MAX_PLAINTEXT) throw new RangeError("Record content exceeds 2^14 bytes");
    const out = new Uint8Array(content.length + this.recordOverhead);
    out.set(content, this.contentOffset);
    this.#seal(out, 0, type, content.length);
    return out;
  }

  /** Frames and seals the record at `buf[at]` whose content is already in place. */
  #seal(buf: Uint8Array, at: number, type: number, length: number): void {
    const aad = additionalData(this.sequence, type, TLS12_VERSION, length);
    const nonce = this.nextNonce();
    const bodyLength = this.#explicit + length + TAG_LENGTH;
    buf[at] = type;
    buf[at + 1] = 0x03;
    buf[at + 2] = 0x03;
    buf[at + 3] = bodyLength >>> 8;
    buf[at + 4] = bodyLength & 0xff;
    // The explicit nonce is the last 8 bytes of the nonce: the sequence number.
    if (this.#explicit) buf.set(nonce.subarray(IV_LENGTH - this.#explicit), at + 5);
    this.aead.sealInPlace(nonce, aad, buf, at + this.contentOffset, length);
  }
}

/** Removes TLS 1.2 protection from the server's records. */
export class Tls12RecordDecrypter extends RecordCipher implements RecordOpener {
  readonly hidesContentType = false;
  readonly #explicit: number;

  private constructor(suite: CipherSuiteInfo, aead: RecordAead, iv: Uint8Array) {
    super(aead, iv);
    this.#explicit = suite.aead === "AES-GCM" ? GCM_EXPLICIT_NONCE : 0;
  }

  /** The server write keys of the key block; the key bytes are wiped once the AEAD has them. */
  static create(
    suite: CipherSuiteInfo,
    keys: Tls12TrafficKeys,
    backend: AeadBackend = aeadBackend(),
  ): Tls12RecordDecrypter {
    try {
      const iv = nonceBase(suite, keys.fixedIv);
      return new Tls12RecordDecrypter(suite, backend.create(suite, keys.key, "open"), iv);
    } finally {
      keys.key.fill(0);
    }
  }

  /**
   * Opens a record: its type is the header's (RFC 5246 6.2.3). A record too short to hold the
   * nonce and tag, or whose tag does not verify, is bad_record_mac; more than 2^14 bytes of
   * plaintext is record_overflow (6.2.3).
   */
  open(header: Uint8Array, body: Uint8Array): OpenedRecord {
    const length = body.length - this.#explicit - TAG_LENGTH;
    const aad = additionalData(this.sequence, header[0], header.subarray(1, 3), length);
    const nonce = this.nextNonce();
    let inner: Uint8Array | null = null;
    if (length >= 0) {
      if (this.#explicit) nonce.set(body.subarray(0, this.#explicit), IV_LENGTH - this.#explicit);
      inner = this.aead.open(nonce, aad, body.subarray(this.#explicit));
    }
    if (inner === null) {
      throw new TlsPeerMisbehavedError(
        "Server sent a record that fails authentication (bad_record_mac)",
        "bad_record_mac",
      );
    }
    if (inner.length > MAX_PLAINTEXT) {
      throw new TlsPeerMisbehavedError(
        `Server sent a record with ${inner.length} bytes of plaintext: more than 2^14`,
        "record_overflow",
      );
    }
    // A plain Uint8Array over the bytes (node:crypto gives a Buffer).
    return { type: header[0], content: new Uint8Array(inner.buffer, inner.byteOffset, length) };
  }
}
