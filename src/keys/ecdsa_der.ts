/**
 * ECDSA signature encodings. WebCrypto and PKCS#11's CKM_ECDSA produce the raw form r || s
 * (each integer big-endian, left-padded to the curve's coordinate size); TLS (RFC 8446 section
 * 4.2.3) and X.509 carry the DER form (RFC 3279 section 2.2.3):
 *
 *   Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
 *
 * The DER reader is strict (X.690 section 10): minimal lengths, minimal positive integers, no
 * trailing bytes, so that one signature has exactly one encoding.
 */

/** Coordinate size in bytes of the curves TLS 1.3 uses for ECDSA. */
export function ecdsaCoordinateSize(curve: "P-256" | "P-384" | "P-521"): number {
  return curve === "P-256" ? 32 : curve === "P-384" ? 48 : 66;
}

/** Raw r || s (two halves of equal length) to DER `Ecdsa-Sig-Value`. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) {
    throw new RangeError(
      `Invalid raw ECDSA signature: length ${raw.length} is not two equal halves`,
    );
  }
  const half = raw.length / 2;
  const r = derInteger(raw.subarray(0, half));
  const s = derInteger(raw.subarray(half));
  return concat(Uint8Array.of(0x30), derLength(r.length + s.length), r, s);
}

/**
 * DER `Ecdsa-Sig-Value` to raw r || s with each integer padded to `coordinateSize` bytes
 * (32 for P-256, 48 for P-384, 66 for P-521). Throws a SyntaxError naming the defect.
 */
export function ecdsaDerToRaw(der: Uint8Array, coordinateSize: number): Uint8Array {
  if (!Number.isInteger(coordinateSize) || coordinateSize <= 0) {
    throw new RangeError(`Invalid ECDSA coordinate size ${coordinateSize}`);
  }
  const seq = readElement(der, 0, "signature");
  if (seq.tag !== 0x30) fail(`expected a SEQUENCE, found tag 0x${hex(seq.tag)}`);
  if (seq.end !== der.length) fail("trailing bytes after the SEQUENCE");
  const r = readElement(der, seq.start, "r");
  const s = readElement(der, r.end, "s");
  if (s.end !== seq.end) fail("trailing bytes inside the SEQUENCE");
  const out = new Uint8Array(coordinateSize * 2);
  out.set(integerValue(der, r, "r", coordinateSize), 0);
  out.set(integerValue(der, s, "s", coordinateSize), coordinateSize);
  return out;
}

interface Element {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just after the element. */
  end: number;
}

function fail(detail: string): never {
  throw new SyntaxError(`Invalid ECDSA signature DER: ${detail}`);
}

function readElement(buf: Uint8Array, pos: number, what: string): Element {
  if (pos + 2 > buf.length) fail(`${what} is truncated`);
  const tag = buf[pos];
  let len = buf[pos + 1];
  let start = pos + 2;
  if (len === 0x80) fail(`${what} has an indefinite length`);
  if (len > 0x80) {
    const n = len & 0x7f;
    // Signatures are at most a few hundred bytes: two length bytes are plenty.
    if (n > 2) fail(`${what} length is too large`);
    if (start + n > buf.length) fail(`${what} length is truncated`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    if (buf[start] === 0 || len < 0x80) fail(`${what} length is not minimal`);
    start += n;
  }
  const end = start + len;
  if (end > buf.length) fail(`${what} is longer than its container`);
  return { tag, start, end };
}

/** The integer's magnitude, left-padded to `size` bytes. */
function integerValue(buf: Uint8Array, el: Element, name: string, size: number): Uint8Array {
  if (el.tag !== 0x02) fail(`${name} is not an INTEGER (tag 0x${hex(el.tag)})`);
  let v = buf.subarray(el.start, el.end);
  if (v.length === 0) fail(`${name} is empty`);
  if (v[0] & 0x80) fail(`${name} is negative`);
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) fail(`${name} is not minimal`);
  if (v[0] === 0) v = v.subarray(1);
  if (v.length > size) fail(`${name} is longer than ${size} bytes`);
  if (v.every((b) => b === 0)) fail(`${name} is zero`);
  const out = new Uint8Array(size);
  out.set(v, size - v.length);
  return out;
}

/** A minimal DER INTEGER for the unsigned big-endian `magnitude`. */
function derInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v[0] & 0x80) v = concat(Uint8Array.of(0), v);
  return concat(Uint8Array.of(0x02), derLength(v.length), v);
}

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n < 0x100) return Uint8Array.of(0x81, n);
  return Uint8Array.of(0x82, n >> 8, n & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
