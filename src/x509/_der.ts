/**
 * A minimal, strict DER reader (X.690 section 10): enough to cut a certificate into the exact
 * bytes that were signed and to read the few extension values whose meaning we enforce.
 * @peculiar/x509 parses for display; the bytes that decide trust are read here, so that what we
 * verify is exactly what the peer sent (no re-encoding, no BER leniency).
 */

export class DerError extends Error {
  override name = "DerError";
}

/** One tag-length-value element. `bytes` is the whole element, `value` its contents. */
export interface Tlv {
  readonly tag: number;
  readonly bytes: Uint8Array;
  readonly value: Uint8Array;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads the element starting at `pos`; returns it and the offset just after it. */
export function readTlv(buf: Uint8Array, pos: number): { tlv: Tlv; end: number } {
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

/** The single element that `buf` consists of, with no trailing bytes. */
export function readOne(buf: Uint8Array, tag?: number): Tlv {
  const { tlv, end } = readTlv(buf, 0);
  if (end !== buf.length) throw new DerError("trailing bytes after element");
  if (tag !== undefined) expectTag(tlv, tag);
  return tlv;
}

/** The elements of a constructed value (SEQUENCE, SET, or a constructed context tag). */
export function children(tlv: Tlv): Tlv[] {
  if ((tlv.tag & 0x20) === 0) throw new DerError(`element 0x${hex(tlv.tag)} is not constructed`);
  const out: Tlv[] = [];
  for (let pos = 0; pos < tlv.value.length;) {
    const r = readTlv(tlv.value, pos);
    out.push(r.tlv);
    pos = r.end;
  }
  return out;
}

export function expectTag(tlv: Tlv, tag: number): Tlv {
  if (tlv.tag !== tag) {
    throw new DerError(`expected tag 0x${hex(tag)}, found 0x${hex(tlv.tag)}`);
  }
  return tlv;
}

/** Dotted OID text of an OBJECT IDENTIFIER element (X.690 8.19). */
export function decodeOid(tlv: Tlv): string {
  expectTag(tlv, TAG.OID);
  const v = tlv.value;
  if (v.length === 0 || (v[v.length - 1] & 0x80) !== 0) throw new DerError("bad OID");
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError("non-minimal OID arc");
    n = n * 128 + (v[i] & 0x7f);
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
export function decodeBoolean(tlv: Tlv): boolean {
  expectTag(tlv, TAG.BOOLEAN);
  if (tlv.value.length !== 1 || (tlv.value[0] !== 0 && tlv.value[0] !== 0xff)) {
    throw new DerError("bad BOOLEAN");
  }
  return tlv.value[0] === 0xff;
}

/** A non-negative INTEGER that fits in 31 bits (pathLenConstraint, versions, salt lengths). */
export function decodeSmallUint(tlv: Tlv): number {
  expectTag(tlv, TAG.INTEGER);
  const v = tlv.value;
  if (v.length === 0 || v.length > 5) throw new DerError("INTEGER out of range");
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) throw new DerError("non-minimal INTEGER");
  if (v[0] & 0x80) throw new DerError("negative INTEGER");
  let n = 0;
  for (const b of v) n = n * 256 + b;
  if (n > 0x7fffffff) throw new DerError("INTEGER out of range");
  return n;
}

/** The bytes of a BIT STRING. `unusedBits` is the count of padding bits in the last byte. */
export function decodeBitString(tlv: Tlv): { bytes: Uint8Array; unusedBits: number } {
  expectTag(tlv, TAG.BIT_STRING);
  const v = tlv.value;
  if (v.length === 0 || v[0] > 7 || (v.length === 1 && v[0] !== 0)) {
    throw new DerError("bad BIT STRING");
  }
  // X.690 11.2.1: padding bits are zero.
  if (v[0] !== 0 && (v[v.length - 1] & ((1 << v[0]) - 1)) !== 0) {
    throw new DerError("BIT STRING padding bits are not zero");
  }
  return { bytes: v.subarray(1), unusedBits: v[0] };
}

/** An unsigned big-endian INTEGER's magnitude, without the sign byte (for ECDSA r and s). */
export function decodeUnsignedInteger(tlv: Tlv): Uint8Array {
  expectTag(tlv, TAG.INTEGER);
  const v = tlv.value;
  if (v.length === 0) throw new DerError("empty INTEGER");
  if (v[0] & 0x80) throw new DerError("negative INTEGER");
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) throw new DerError("non-minimal INTEGER");
  return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
}

/** Encodes one element (used only to rebuild an SPKI with another algorithm identifier). */
export function encodeTlv(tag: number, value: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = value.length;
  const head = len < 0x80
    ? [tag, len]
    : len < 0x100
    ? [tag, 0x81, len]
    : len < 0x10000
    ? [tag, 0x82, len >> 8, len & 0xff]
    : [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  out.set(value, head.length);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hex(n: number | Uint8Array): string {
  if (typeof n === "number") return n.toString(16).padStart(2, "0");
  return Array.from(n, (b) => b.toString(16).padStart(2, "0")).join("");
}
