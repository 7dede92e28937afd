/**
 * A tiny DER (X.690 section 10) builder and reader for the structures the key providers touch:
 * PKCS#8 / SEC1 / PKCS#1 private keys, SubjectPublicKeyInfo, PKCS#10 requests. The reader is
 * strict (minimal lengths, no indefinite form, no trailing bytes).
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export class DerError extends Error {
  override name = "DerError";
}

// ---- building ----

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element with `tag` and the concatenation of `contents`. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const value = concat(...contents);
  return concat(Uint8Array.of(tag), lengthBytes(value.length), value);
}

export const seq = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...items);
export const set = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SET, ...items);
export const octetString = (v: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, v);
export const nullValue = (): Uint8Array => Uint8Array.of(TAG.NULL, 0);
/** A BIT STRING with no unused bits. */
export const bitString = (v: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(0), v);
/** A constructed context-specific tag `[n]`. */
export const explicit = (n: number, ...items: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...items);

/** A DER INTEGER from an unsigned big-endian magnitude (leading zeros removed, sign byte added). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v.length === 0) v = Uint8Array.of(0);
  if (v[0] & 0x80) v = concat(Uint8Array.of(0), v);
  return tlv(TAG.INTEGER, v);
}

export function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`Bad integer ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 section 8.19). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`Bad OID "${dotted}"`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new RangeError(`Bad OID "${dotted}"`);
  const out: number[] = [];
  const push = (arc: bigint) => {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...groups);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(TAG.OID, Uint8Array.from(out));
}

export const utf8String = (s: string): Uint8Array =>
  tlv(TAG.UTF8_STRING, new TextEncoder().encode(s));

// ---- reading ----

/** One element: `bytes` is the whole element, `value` its contents. */
export interface Element {
  readonly tag: number;
  readonly bytes: Uint8Array;
  readonly value: Uint8Array;
}

/** Reads the element at `pos`; returns it and the offset just after it. */
export function readElement(buf: Uint8Array, pos = 0): { el: Element; end: number } {
  if (pos + 2 > buf.length) throw new DerError("truncated element");
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError("unsupported high tag number");
  let len = buf[pos + 1];
  let head = 2;
  if (len === 0x80) throw new DerError("indefinite length is not DER");
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw new DerError("length too large");
    if (pos + 2 + n > buf.length) throw new DerError("truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 2 + i];
    if (buf[pos + 2] === 0 || len < 0x80) throw new DerError("non-minimal length");
    head += n;
  }
  const end = pos + head + len;
  if (end > buf.length) throw new DerError("element longer than its container");
  return {
    el: { tag, bytes: buf.subarray(pos, end), value: buf.subarray(pos + head, end) },
    end,
  };
}

/** The single element `buf` holds (no trailing bytes), optionally of `tag`. */
export function readOne(buf: Uint8Array, tag?: number): Element {
  const { el, end } = readElement(buf, 0);
  if (end !== buf.length) throw new DerError("trailing bytes after element");
  if (tag !== undefined) expectTag(el, tag);
  return el;
}

/** The elements inside a constructed element; with `min`, at least that many are required. */
export function children(el: Element | undefined, min = 0): Element[] {
  if (!el) throw new DerError("missing element");
  if ((el.tag & 0x20) === 0) throw new DerError(`element 0x${hex(el.tag)} is not constructed`);
  const out: Element[] = [];
  for (let pos = 0; pos < el.value.length;) {
    const r = readElement(el.value, pos);
    out.push(r.el);
    pos = r.end;
  }
  if (out.length < min) throw new DerError(`expected ${min} elements, found ${out.length}`);
  return out;
}

export function expectTag(el: Element | undefined, tag: number): Element {
  if (!el) throw new DerError(`missing element with tag 0x${hex(tag)}`);
  if (el.tag !== tag) throw new DerError(`expected tag 0x${hex(tag)}, found 0x${hex(el.tag)}`);
  return el;
}

/** Dotted form of an OBJECT IDENTIFIER element. */
export function readOid(el: Element | undefined): string {
  const v = expectTag(el, TAG.OID).value;
  if (v.length === 0) throw new DerError("empty OID");
  const arcs: bigint[] = [];
  let acc = 0n;
  for (let i = 0; i < v.length; i++) {
    if (acc === 0n && v[i] === 0x80) throw new DerError("non-minimal OID arc");
    acc = (acc << 7n) | BigInt(v[i] & 0x7f);
    if ((v[i] & 0x80) === 0) {
      arcs.push(acc);
      acc = 0n;
    } else if (i === v.length - 1) throw new DerError("truncated OID");
  }
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join(".");
}

/** The magnitude of a non-negative INTEGER (no sign byte). */
export function readUnsigned(el: Element | undefined): Uint8Array {
  const v = expectTag(el, TAG.INTEGER).value;
  if (v.length === 0) throw new DerError("empty INTEGER");
  if (v[0] & 0x80) throw new DerError("negative INTEGER");
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) throw new DerError("non-minimal INTEGER");
  return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
}

export function readSmallInteger(el: Element | undefined): number {
  const v = readUnsigned(el);
  if (v.length > 4) throw new DerError("INTEGER too large");
  return v.reduce((n, b) => n * 256 + b, 0);
}

/** Contents of a BIT STRING with no unused bits. */
export function readBitString(el: Element | undefined): Uint8Array {
  const v = expectTag(el, TAG.BIT_STRING).value;
  if (v.length === 0 || v[0] !== 0) throw new DerError("BIT STRING has unused bits");
  return v.subarray(1);
}

export function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
