/**
 * Handshake message framing (RFC 8446 section 4): msg_type (1 byte), length (3 bytes), body.
 * Messages may be split across records and several may share a record; the reassembler joins
 * fragments and caps the size of one message so a hostile length cannot exhaust memory.
 */

import { TlsDecodeError } from "../errors.ts";

/** HandshakeType (RFC 8446 section 4; the TLS 1.2 ones from RFC 5246 section 7.4). */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
  key_update: 24,
  message_hash: 254,
} as const;

const NAMES = new Map<number, string>(
  Object.entries(HandshakeType).map(([name, code]) => [code, name]),
);

export function handshakeTypeName(type: number): string {
  return NAMES.get(type) ?? `handshake message type ${type}`;
}

/** A whole handshake message: `raw` is what enters the transcript hash. */
export interface HandshakeMessage {
  readonly type: number;
  readonly body: Uint8Array;
  readonly raw: Uint8Array;
}

export const HANDSHAKE_HEADER_LENGTH = 4;

/**
 * The largest handshake message we accept: 64 KiB covers a certificate chain of several large
 * RSA certificates; anything bigger from a server is refused rather than buffered.
 */
export const MAX_HANDSHAKE_MESSAGE = 65536;

/** Frames a handshake message body. */
export function encodeHandshake(type: number, body: Uint8Array): Uint8Array {
  if (body.length > 0xffffff) throw new RangeError("Handshake message body too long");
  const out = new Uint8Array(HANDSHAKE_HEADER_LENGTH + body.length);
  out[0] = type;
  out[1] = body.length >>> 16;
  out[2] = (body.length >>> 8) & 0xff;
  out[3] = body.length & 0xff;
  out.set(body, HANDSHAKE_HEADER_LENGTH);
  return out;
}

/** Joins handshake record fragments into whole messages. */
export class HandshakeReassembler {
  // Bytes [#start, #end) of #buf are buffered; the buffer grows by doubling, so many tiny
  // fragments cost linear time, and never beyond one maximal message plus one record.
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;
  readonly #max: (type: number) => number;

  /** `maxMessage`: the largest body accepted, for every type or per handshake type. */
  constructor(maxMessage: number | ((type: number) => number) = MAX_HANDSHAKE_MESSAGE) {
    this.#max = typeof maxMessage === "number" ? () => maxMessage : maxMessage;
  }

  /** True when part of a message is waiting for more records. */
  get hasPartial(): boolean {
    return this.#end > this.#start;
  }

  /** Adds one record's worth of handshake bytes (copied). */
  push(fragment: Uint8Array): void {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    const need = this.#end - this.#start + fragment.length;
    if (this.#end + fragment.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, Math.min(2 * this.#buf.length, need + 65536)));
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buf.set(fragment, this.#end);
    this.#end += fragment.length;
    // Check the announced length as soon as a header is complete, before buffering more.
    this.#checkHead();
  }

  /** The next whole message, or undefined when more bytes are needed. */
  next(): HandshakeMessage | undefined {
    if (this.#end - this.#start < HANDSHAKE_HEADER_LENGTH) return undefined;
    const total = HANDSHAKE_HEADER_LENGTH + this.#announced();
    if (this.#end - this.#start < total) return undefined;
    const raw = this.#buf.slice(this.#start, this.#start + total);
    this.#start += total;
    this.#checkHead();
    return { type: raw[0], body: raw.subarray(HANDSHAKE_HEADER_LENGTH), raw };
  }

  #announced(): number {
    const b = this.#buf, s = this.#start;
    return (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3];
  }

  #checkHead(): void {
    if (this.#end - this.#start < HANDSHAKE_HEADER_LENGTH) return;
    const length = this.#announced();
    const type = this.#buf[this.#start];
    const max = this.#max(type);
    if (length > max) {
      throw new TlsDecodeError(
        `Server sent a ${handshakeTypeName(type)} message of ${length} bytes: the limit is ${max}`,
      );
    }
  }
}
