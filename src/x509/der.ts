/**
 * The one DER (X.690 section 10) reader and builder of hsm-bridge.
 *
 * The reader is strict, so that one value has exactly one encoding: minimal lengths, no
 * indefinite form, no trailing bytes, minimal integers, zero BIT STRING padding. x509 parses
 * certificates with it alone: the exact bytes that were signed, the extension values whose
 * meaning we enforce, and the names and dates shown in messages (what we verify is exactly what
 * the peer sent, no re-encoding, no BER leniency); keys uses it for PKCS#8, SEC1 and PKCS#1 private
 * keys, SubjectPublicKeyInfo and CKA_EC_PARAMS. The builder writes SubjectPublicKeyInfo, the
 * PKCS#8 wrappers and PKCS#10 requests. Other folders reach it as `der` from x509's mod.ts.
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

// ---- reading ----

/** One tag-length-value element. `bytes` is the whole element, `value` its contents. */
export interface Tlv {
  readonly tag: number;
  readonly bytes: Uint8Array;
  readonly value: Uint8Array;
}

/** Reads the element starting at `pos`; returns it and the offset just after it. */
export function readTlv(buf: Uint8Array, pos = 0): { tlv: Tlv; end: number } {
  if (pos + 2 > buf.length) throw new DerError("truncated element");
  const tag = buf[pos];
  // High tag numbers (0x1f) never occur in the structures we read; refusing them keeps this small.
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
    // X.690 10.1: the shortest form must be used.
    if (buf[pos + 2] === 0 || len < 0x80) throw new DerError("non-minimal length");
    head += n;
  }
  const end = pos + head + len;
  if (end > buf.length) throw new DerError("element longer than its container");
  return {
    tlv: { tag, bytes: buf.subarray(pos, end), value: buf.subarray(pos + head, end) },
    end,
  };
}

/** The single element that `buf` consists of (no trailing bytes), optionally of `tag`. */
export function readOne(buf: Uint8Array, tag?: number): Tlv {
  const { tlv, end } = readTlv(buf, 0);
  if (end !== buf.length) throw new DerError("trailing bytes after element");
  if (tag !== undefined) expectTag(tlv, tag);
  return tlv;
}

/**
 * The elements of a constructed value (SEQUENCE, SET, or a constructed context tag); with
 * `min`, at least that many are required.
 */
export function children(tlv: Tlv | undefined, min = 0): Tlv[] {
  if (!tlv) throw new DerError("missing element");
  if ((tlv.tag & 0x20) === 0) throw new DerError(`element 0x${hex(tlv.tag)} is not constructed`);
  const out: Tlv[] = [];
  for (let pos = 0; pos < tlv.value.length;) {
    const r = readTlv(tlv.value, pos);
    out.push(r.tlv);
    pos = r.end;
  }
  if (out.length < min) throw new DerError(`expected ${min} elements, found ${out.length}`);
  return out;
}

/** `tlv` when it is there and has `tag`; a DerError naming what was expected otherwise. */
export function expectTag(tlv: Tlv | undefined, tag: number): Tlv {
  if (!tlv) throw new DerError(`missing element with tag 0x${hex(tag)}`);
  if (tlv.tag !== tag) throw new DerError(`expected tag 0x${hex(tag)}, found 0x${hex(tlv.tag)}`);
  return tlv;
}

/** Dotted OID text of an OBJECT IDENTIFIER element (X.690 8.19). */
export function decodeOid(tlv: Tlv | undefined): string {
  const v = expectTag(tlv, TAG.OID).value;
  if (v.length === 0) throw new DerError("empty OID");
  if ((v[v.length - 1] & 0x80) !== 0) throw new DerError("truncated OID");
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError("non-minimal OID arc");
    n = n * 128 + (v[i] & 0x7f);
    // Arcs must stay exact as numbers; no OID we act on comes near this.
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError("OID arc too large");
    if ((v[i] & 0x80) === 0) {
      arcs.push(n);
      n = 0;
    }
  }
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/** A BOOLEAN; DER allows only 0x00 and 0xff. */
export function decodeBoolean(tlv: Tlv | undefined): boolean {
  const v = expectTag(tlv, TAG.BOOLEAN).value;
  if (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff)) throw new DerError("bad BOOLEAN");
  return v[0] === 0xff;
}

/** An unsigned big-endian INTEGER's magnitude, without the sign byte (ECDSA r and s, RSA n). */
export function decodeUnsignedInteger(tlv: Tlv | undefined): Uint8Array {
  const v = expectTag(tlv, TAG.INTEGER).value;
  if (v.length === 0) throw new DerError("empty INTEGER");
  if (v[0] & 0x80) throw new DerError("negative INTEGER");
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) throw new DerError("non-minimal INTEGER");
  return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
}

/** A non-negative INTEGER that fits in 31 bits (versions, pathLenConstraint, salt lengths). */
export function decodeSmallUint(tlv: Tlv | undefined): number {
  const v = decodeUnsignedInteger(tlv);
  const n = v.length > 4 ? Infinity : v.reduce((n, b) => n * 256 + b, 0);
  if (n > 0x7fffffff) throw new DerError("INTEGER out of range");
  return n;
}

/** The bytes of a BIT STRING. `unusedBits` is the count of padding bits in the last byte. */
export function decodeBitString(tlv: Tlv | undefined): { bytes: Uint8Array; unusedBits: number } {
  const v = expectTag(tlv, TAG.BIT_STRING).value;
  if (v.length === 0 || v[0] > 7 || (v.length === 1 && v[0] !== 0)) {
    throw new DerError("bad BIT STRING");
  }
  // X.690 11.2.1: padding bits are zero.
  if (v[0] !== 0 && (v[v.length - 1] & ((1 << v[0]) - 1)) !== 0) {
    throw new DerError("BIT STRING padding bits are not zero");
  }
  return { bytes: v.subarray(1), unusedBits: v[0] };
}

/** The bytes of a BIT STRING that must have no unused bits (public keys, signatures). */
export function decodeWholeBitString(tlv: Tlv | undefined): Uint8Array {
  const { bytes, unusedBits } = decodeBitString(tlv);
  if (unusedBits !== 0) throw new DerError("BIT STRING has unused bits");
  return bytes;
}

// ---- building ----

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** The shortest length octets for `n` (X.690 10.1). */
function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element with `tag` whose contents are the concatenation of `contents`. */
export function encodeTlv(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const value = concat(...contents);
  return concat(Uint8Array.of(tag), lengthBytes(value.length), value);
}

export const seq = (...items: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  encodeTlv(TAG.SEQUENCE, ...items);
export const set = (...items: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  encodeTlv(TAG.SET, ...items);
export const octetString = (v: Uint8Array): Uint8Array<ArrayBuffer> =>
  encodeTlv(TAG.OCTET_STRING, v);
export const nullValue = (): Uint8Array<ArrayBuffer> => Uint8Array.of(TAG.NULL, 0);
/** A BIT STRING with no unused bits. */
export const bitString = (v: Uint8Array): Uint8Array<ArrayBuffer> =>
  encodeTlv(TAG.BIT_STRING, Uint8Array.of(0), v);
/** A constructed context-specific tag `[n]`. */
export const explicit = (n: number, ...items: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  encodeTlv(0xa0 | n, ...items);
export const utf8String = (s: string): Uint8Array<ArrayBuffer> =>
  encodeTlv(TAG.UTF8_STRING, new TextEncoder().encode(s));

/** A DER INTEGER from an unsigned big-endian magnitude (leading zeros removed, sign byte added). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array<ArrayBuffer> {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v: Uint8Array = magnitude.subarray(i);
  if (v.length === 0) v = Uint8Array.of(0);
  if (v[0] & 0x80) v = concat(Uint8Array.of(0), v);
  return encodeTlv(TAG.INTEGER, v);
}

export function smallInteger(n: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`Bad integer ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 section 8.19). */
export function oid(dotted: string): Uint8Array<ArrayBuffer> {
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
  return encodeTlv(TAG.OID, Uint8Array.from(out));
}

// ---- bytes ----

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex of one byte value or of a byte string. */
export function hex(n: number | Uint8Array): string {
  if (typeof n === "number") return n.toString(16).padStart(2, "0");
  return Array.from(n, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The bit length of an unsigned big-endian integer (an RSA key's size); leading zeros ignored. */
export function bitLength(magnitude: Uint8Array): number {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  return i === magnitude.length ? 0 : (magnitude.length - i) * 8 - Math.clz32(magnitude[i]) + 24;
}
