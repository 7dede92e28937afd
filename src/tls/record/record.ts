/**
 * The record layer's framing (RFC 8446 section 5.1): 5-byte header (type, legacy version,
 * length) and the fragment. Reading enforces the size limits before buffering a record:
 * plaintext at most 2^14 bytes, ciphertext at most 2^14 + 256; anything longer is refused with
 * record_overflow, so a hostile length field cannot make us buffer more than one maximal record.
 */

import { hex16 } from "../codec.ts";
import {
  messageOf,
  TlsDecodeError,
  TlsError,
  TlsLocalError,
  TlsPeerMisbehavedError,
  TlsTimeoutError,
} from "../errors.ts";
import { closeQuietly, type RawTransport } from "../transport.ts";

/** ContentType (RFC 8446 section 5.1). */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;

export const RECORD_HEADER_LENGTH = 5;
/** Largest TLSPlaintext / TLSInnerPlaintext content: 2^14 bytes. */
export const MAX_PLAINTEXT = 16384;
/** Largest TLSCiphertext fragment: 2^14 + 256 bytes. */
export const MAX_CIPHERTEXT = 16384 + 256;

/** One record as read: views into the reader's buffer, valid until the reader reads again. */
export interface RawRecord {
  readonly type: number;
  /** The 5-byte header (the AEAD's additional data for protected records). */
  readonly header: Uint8Array;
  readonly fragment: Uint8Array;
}

/** Room for several whole records, so that one socket read can bring in many. */
const BUFFER_SIZE = 65536;
/** A record as large as the limits allow: header and the largest ciphertext. */
const MAX_RECORD = RECORD_HEADER_LENGTH + MAX_CIPHERTEXT;

/**
 * Frames records out of a byte transport. Two ways in: `nextBuffered()` hands out records that
 * are already in the buffer without waiting (the connection opens every buffered record in one
 * go), `receive()` reads more; `next()` combines them.
 */
export class RecordReader {
  readonly #transport: RawTransport;
  readonly #stallTimeoutMs: number;
  readonly #buf = new Uint8Array(BUFFER_SIZE);
  #start = 0;
  #end = 0;
  /**
   * TLS 1.2 protection keeps each record's type, so a protected handshake or alert record may
   * be as long as protected application data (RFC 5246 6.2.3); set once such keys are in use.
   */
  ciphertextForAllTypes = false;

  constructor(transport: RawTransport, stallTimeoutMs: number) {
    this.#transport = transport;
    this.#stallTimeoutMs = stallTimeoutMs;
  }

  /** Whether bytes of a next record are already buffered. */
  get hasBufferedBytes(): boolean {
    return this.#end > this.#start;
  }

  /**
   * The next record, or null at end of stream on a record boundary. Throws on a malformed
   * header, an oversized record, end of stream inside a record, or a mid-record stall.
   */
  async next(): Promise<RawRecord | null> {
    for (;;) {
      const record = this.nextBuffered();
      if (record) return record;
      if (!await this.receive()) return null;
    }
  }

  /**
   * The next record if it is wholly buffered, else undefined (call `receive()`). The header is
   * checked as soon as it is buffered: a hostile length is refused before we wait for its body.
   */
  nextBuffered(): RawRecord | undefined {
    const b = this.#buf;
    const h = this.#start;
    const available = this.#end - h;
    if (available < RECORD_HEADER_LENGTH) return undefined;
    const type = b[h];
    const length = (b[h + 3] << 8) | b[h + 4];
    checkHeader(type, b[h + 1], b[h + 2], length, this.ciphertextForAllTypes);
    const total = RECORD_HEADER_LENGTH + length;
    if (available < total) return undefined;
    this.#start = h + total;
    return {
      type,
      header: b.subarray(h, h + RECORD_HEADER_LENGTH),
      fragment: b.subarray(h + RECORD_HEADER_LENGTH, h + total),
    };
  }

  /**
   * Reads more bytes from the transport (records handed out before become invalid). Resolves
   * false at end of stream on a record boundary; throws when the stream ends inside a record,
   * when a partly received record stalls, or when the transport fails.
   */
  async receive(): Promise<boolean> {
    // Room for a whole record after #start; moving the tail happens once per ~64 KiB read.
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    } else if (this.#start + MAX_RECORD > this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const partial = this.#end > this.#start;
    if (partial) this.#arm();
    let got: number | null;
    try {
      got = await this.#readSome();
    } finally {
      if (partial) this.#disarm();
    }
    if (got === null) {
      if (!partial) return false;
      const held = this.#end - this.#start;
      if (held < RECORD_HEADER_LENGTH) {
        throw new TlsPeerMisbehavedError(
          "Server closed the connection in the middle of a record header",
          "decode_error",
        );
      }
      const total = RECORD_HEADER_LENGTH + ((this.#buf[this.#start + 3] << 8) |
        this.#buf[this.#start + 4]);
      throw new TlsPeerMisbehavedError(
        `Server closed the connection in the middle of a record (${held} of ${total} bytes ` +
          "received)",
        "decode_error",
      );
    }
    this.#end += got;
    return true;
  }

  // The stall timer: armed while we wait for the rest of a partly received record, so a
  // server that stops mid-record fails after #stallTimeoutMs without a byte; each read that
  // brings bytes ends that wait. Waits between records are not timed (an idle connection).
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stalled = false;

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#stalled = true;
      closeQuietly(this.#transport); // ends the pending read
    }, this.#stallTimeoutMs);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One transport read, with transport failures turned into TLS errors. */
  async #readSome(): Promise<number | null> {
    try {
      for (;;) {
        const got = await this.#transport.read(this.#buf.subarray(this.#end));
        if (this.#stalled) throw stallError(this.#stallTimeoutMs);
        if (got !== 0) return got;
      }
    } catch (err) {
      if (this.#stalled) throw stallError(this.#stallTimeoutMs);
      if (err instanceof TlsError) throw err;
      throw new TlsLocalError(`Reading from the server failed: ${messageOf(err)}`, undefined, {
        cause: err,
      });
    }
  }
}

function stallError(ms: number): TlsTimeoutError {
  return new TlsTimeoutError(`Server stopped sending in the middle of a record for ${ms} ms`);
}

function checkHeader(
  type: number,
  major: number,
  minor: number,
  length: number,
  ciphertextForAllTypes: boolean,
): void {
  if (type < ContentType.change_cipher_spec || type > ContentType.application_data) {
    // A non-TLS server (HTTP, SSH, MQTT without TLS) lands here with its first byte.
    throw new TlsPeerMisbehavedError(
      `Server sent a record of unknown type ${hex16(type)}: it does not look like a TLS server`,
      "unexpected_message",
    );
  }
  // RFC 8446 5.1: legacy_record_version is ignored, but it is always 0x03xx in TLS; anything
  // else means we are not talking to TLS.
  if (major !== 0x03 || minor > 0x04) {
    throw new TlsDecodeError(
      `Server sent a record with version ${
        hex16((major << 8) | minor)
      }: it does not look like a TLS server`,
    );
  }
  const max = type === ContentType.application_data || ciphertextForAllTypes
    ? MAX_CIPHERTEXT
    : MAX_PLAINTEXT;
  if (length > max) {
    throw new TlsPeerMisbehavedError(
      `Server sent a record of ${length} bytes: the limit is ${max}`,
      "record_overflow",
    );
  }
}

/** A plaintext record (RFC 8446 section 5.1): used for ClientHello, CCS and early alerts. */
export function encodePlaintextRecord(
  type: number,
  fragment: Uint8Array,
  legacyVersion = 0x0303,
): Uint8Array {
  if (fragment.length > MAX_PLAINTEXT) throw new RangeError("Record fragment exceeds 2^14 bytes");
  const out = new Uint8Array(RECORD_HEADER_LENGTH + fragment.length);
  out[0] = type;
  out[1] = legacyVersion >>> 8;
  out[2] = legacyVersion & 0xff;
  out[3] = fragment.length >>> 8;
  out[4] = fragment.length & 0xff;
  out.set(fragment, RECORD_HEADER_LENGTH);
  return out;
}
