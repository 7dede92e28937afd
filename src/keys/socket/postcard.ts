/**
 * The subset of postcard (serde's compact binary format, the wire format of tedge-p11-server)
 * that the protocol uses. postcard's "wire format" specification:
 *
 *   u8, bool          one byte (bool: 0 or 1)
 *   u16, u32, u64     unsigned LEB128 varint, least significant group first (at most 3 / 5 / 10
 *                     bytes); usize (lengths) as u64
 *   enum              the variant index as a varint u32, then the variant's fields
 *   Option<T>         0 (None) or 1 then T
 *   String, Vec<u8>   length varint, then the bytes (a String must be UTF-8)
 *   Vec<T>            length varint, then each T
 *   struct, tuple     the fields in declaration order, nothing between them
 *
 * Nothing is self-describing, so a reader must know the type. Like postcard's `from_bytes`, the
 * reader does not insist on consuming every byte: a newer peer may append fields that an older
 * reader ignores (thin-edge relies on this for compatibility).
 */

/** Bytes that are not a postcard value of the expected type. */
export class PostcardError extends Error {
  override name = "PostcardError";
}

const MAX_VARINT_BYTES = { 16: 3, 32: 5, 64: 10 } as const;

export class PostcardWriter {
  #buf = new Uint8Array(64);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`Not a u8: ${v}`);
    this.#room(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** A u16/u32/u64 (or usize) as a varint. */
  varint(v: number | bigint, bits: 16 | 32 | 64 = 64): this {
    let n = BigInt(v);
    if (n < 0n || n >= 1n << BigInt(bits)) throw new RangeError(`Not a u${bits}: ${v}`);
    do {
      const low = Number(n & 0x7fn);
      n >>= 7n;
      this.u8(n ? low | 0x80 : low);
    } while (n);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  bytes(b: Uint8Array): this {
    return this.varint(b.length).raw(b);
  }

  str(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }

  option<T>(v: T | undefined, write: (w: this, v: T) => void): this {
    if (v === undefined) return this.u8(0);
    this.u8(1);
    write(this, v);
    return this;
  }

  seq<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.varint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

export class PostcardReader {
  #pos = 0;

  constructor(readonly buf: Uint8Array) {}

  get atEnd(): boolean {
    return this.#pos >= this.buf.length;
  }

  u8(what = "u8"): number {
    if (this.#pos >= this.buf.length) throw new PostcardError(`frame ends before ${what}`);
    return this.buf[this.#pos++];
  }

  bool(what = "bool"): boolean {
    const b = this.u8(what);
    if (b > 1) throw new PostcardError(`invalid bool ${b} for ${what}`);
    return b === 1;
  }

  /** A varint of at most `bits` bits, as a bigint. */
  varintBig(bits: 16 | 32 | 64, what = `u${bits}`): bigint {
    let value = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES[bits]; i++) {
      const b = this.u8(what);
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (value >= 1n << BigInt(bits)) throw new PostcardError(`${what} out of range`);
        return value;
      }
    }
    throw new PostcardError(`varint too long for ${what}`);
  }

  /** A u16/u32 varint, or a u64 that must fit a JS number exactly. */
  varint(bits: 16 | 32 | 64, what = `u${bits}`): number {
    const v = this.varintBig(bits, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PostcardError(`${what} too large`);
    return Number(v);
  }

  /** A length prefix; it may not promise more items than bytes remain (each takes one at least). */
  length(what: string): number {
    const n = this.varint(64, `length of ${what}`);
    if (n > this.buf.length - this.#pos) {
      throw new PostcardError(
        `length of ${what} (${n}) exceeds the ${this.buf.length - this.#pos} bytes left`,
      );
    }
    return n;
  }

  bytes(what = "bytes"): Uint8Array {
    const n = this.length(what);
    const out = this.buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  str(what = "string"): string {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.bytes(what));
    } catch (e) {
      if (e instanceof PostcardError) throw e;
      throw new PostcardError(`${what} is not UTF-8`);
    }
  }

  option<T>(read: (r: this) => T, what = "option"): T | undefined {
    const tag = this.u8(what);
    if (tag === 0) return undefined;
    if (tag !== 1) throw new PostcardError(`invalid option tag ${tag} for ${what}`);
    return read(this);
  }

  seq<T>(read: (r: this) => T, what = "sequence"): T[] {
    const n = this.length(what);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }
}
