/**
 * Byte reader and writer for TLS presentation-language structures (RFC 8446 section 3).
 *
 * Every read is bounds-checked: reading past the end of the input, or past the end of a
 * length-prefixed vector, throws a `TlsDecodeError` naming what was being read. A decoder
 * that returns normally has therefore consumed only bytes that exist.
 */

import { TlsDecodeError } from "./errors.ts";

/** Sequential reader over a byte array; `what` names the structure in error messages. */
export class Reader {
  readonly #bytes: Uint8Array;
  #pos: number;
  readonly #end: number;
  readonly #what: string;

  constructor(bytes: Uint8Array, what: string, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
    this.#what = what;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  get atEnd(): boolean {
    return this.#pos === this.#end;
  }

  #need(n: number, field: string): number {
    if (n > this.#end - this.#pos) {
      throw new TlsDecodeError(
        `Cannot decode ${this.#what}: ${field} needs ${n} bytes, only ${
          this.#end - this.#pos
        } left`,
      );
    }
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(field = "uint8"): number {
    return this.#bytes[this.#need(1, field)];
  }

  u16(field = "uint16"): number {
    const at = this.#need(2, field);
    return (this.#bytes[at] << 8) | this.#bytes[at + 1];
  }

  u24(field = "uint24"): number {
    const at = this.#need(3, field);
    return (this.#bytes[at] << 16) | (this.#bytes[at + 1] << 8) | this.#bytes[at + 2];
  }

  u32(field = "uint32"): number {
    const at = this.#need(4, field);
    return ((this.#bytes[at] << 24) >>> 0) +
      ((this.#bytes[at + 1] << 16) | (this.#bytes[at + 2] << 8) | this.#bytes[at + 3]);
  }

  /** `n` bytes as a view into the input (no copy). */
  bytes(n: number, field = "bytes"): Uint8Array {
    const at = this.#need(n, field);
    return this.#bytes.subarray(at, at + n);
  }

  /** A vector with a `lengthBytes`-byte length prefix, checked against `min`..`max`. */
  vector(lengthBytes: 1 | 2 | 3, field: string, min = 0, max = Infinity): Uint8Array {
    const n = lengthBytes === 1
      ? this.u8(`${field} length`)
      : lengthBytes === 2
      ? this.u16(`${field} length`)
      : this.u24(`${field} length`);
    if (n < min || n > max) {
      const range = max === Infinity ? `at least ${min}` : `${min}..${max}`;
      throw new TlsDecodeError(
        `Cannot decode ${this.#what}: ${field} has length ${n}, expected ${range}`,
      );
    }
    return this.bytes(n, field);
  }

  /** A reader over a length-prefixed sub-structure; this reader moves past it. */
  sub(lengthBytes: 1 | 2 | 3, field: string, min = 0, max = Infinity): Reader {
    const v = this.vector(lengthBytes, field, min, max);
    return new Reader(v, `${this.#what} ${field}`);
  }

  /** A vector of uint16 values (cipher suites, groups, schemes, versions). */
  u16List(lengthBytes: 1 | 2, field: string, min = 0, max = Infinity): number[] {
    const r = this.sub(lengthBytes, field, min, max);
    if (r.remaining % 2 !== 0) {
      throw new TlsDecodeError(`Cannot decode ${this.#what}: ${field} has an odd length`);
    }
    const out: number[] = [];
    while (!r.atEnd) out.push(r.u16(field));
    return out;
  }

  /** Throws unless every byte has been read: trailing bytes are a decode error. */
  end(): void {
    if (this.#pos !== this.#end) {
      throw new TlsDecodeError(
        `Cannot decode ${this.#what}: ${this.#end - this.#pos} unexpected trailing bytes`,
      );
    }
  }
}

/** Growable writer; `finish()` returns the written bytes. */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(initialCapacity);
  }

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): number {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    const at = this.#len;
    this.#len = need;
    return at;
  }

  u8(v: number): this {
    checkRange(v, 0xff, "uint8");
    const at = this.#reserve(1); // reserve first: it may replace #buf
    this.#buf[at] = v;
    return this;
  }

  u16(v: number): this {
    checkRange(v, 0xffff, "uint16");
    const at = this.#reserve(2);
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    checkRange(v, 0xffffff, "uint24");
    const at = this.#reserve(3);
    this.#buf[at] = v >>> 16;
    this.#buf[at + 1] = (v >>> 8) & 0xff;
    this.#buf[at + 2] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    checkRange(v, 0xffffffff, "uint32");
    const at = this.#reserve(4);
    this.#buf[at] = v >>> 24;
    this.#buf[at + 1] = (v >>> 16) & 0xff;
    this.#buf[at + 2] = (v >>> 8) & 0xff;
    this.#buf[at + 3] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** Writes `b` with a length prefix of `lengthBytes` bytes. */
  vector(lengthBytes: 1 | 2 | 3, b: Uint8Array): this {
    return this.#prefix(lengthBytes, b.length).bytes(b);
  }

  /** Writes a length-prefixed sub-structure produced by `body`. */
  sub(lengthBytes: 1 | 2 | 3, body: (w: Writer) => void): this {
    const at = this.#reserve(lengthBytes);
    const start = this.#len;
    body(this);
    const n = this.#len - start;
    const max = 2 ** (8 * lengthBytes) - 1;
    if (n > max) {
      throw new RangeError(`Vector of ${n} bytes exceeds its ${lengthBytes}-byte length`);
    }
    for (let i = lengthBytes - 1, v = n; i >= 0; i--, v >>>= 8) this.#buf[at + i] = v & 0xff;
    return this;
  }

  u16List(lengthBytes: 1 | 2, values: readonly number[]): this {
    return this.sub(lengthBytes, (w) => {
      for (const v of values) w.u16(v);
    });
  }

  #prefix(lengthBytes: 1 | 2 | 3, n: number): this {
    return lengthBytes === 1 ? this.u8(n) : lengthBytes === 2 ? this.u16(n) : this.u24(n);
  }

  /** The written bytes (a view of the internal buffer; the writer must not be reused). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

function checkRange(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`Value ${v} is not a ${what}`);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Constant-time equality of two byte arrays (length is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new RangeError(`Invalid hex string "${clean.slice(0, 16)}...": odd length or bad digit`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

/** Hex of a 16-bit code point as written in RFCs: `0x1301`. */
export function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, "0")}`;
}
