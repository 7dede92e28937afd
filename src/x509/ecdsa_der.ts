/**
 * ECDSA signature encodings. WebCrypto and PKCS#11's CKM_ECDSA produce the raw form r || s
 * (each integer big-endian, left-padded to the curve's coordinate size); TLS (RFC 8446 section
 * 4.2.3) and X.509 carry the DER form (RFC 3279 section 2.2.3):
 *
 *   Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
 *
 * The DER is read with the strict reader of der.ts (minimal lengths, minimal positive integers,
 * no trailing bytes), so that one signature has exactly one encoding.
 */
import {
  children,
  decodeUnsignedInteger,
  DerError,
  hex,
  readOne,
  seq,
  TAG,
  type Tlv,
  unsignedInteger,
} from "./der.ts";

export type EcCurve = "P-256" | "P-384" | "P-521";

/** Coordinate size in bytes of the curves TLS 1.3 uses for ECDSA. */
export function ecdsaCoordinateSize(curve: EcCurve): number {
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
  return seq(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

/**
 * DER `Ecdsa-Sig-Value` to raw r || s with each integer padded to `coordinateSize` bytes
 * (32 for P-256, 48 for P-384, 66 for P-521). Throws a SyntaxError naming the defect.
 */
export function ecdsaDerToRaw(der: Uint8Array, coordinateSize: number): Uint8Array {
  if (!Number.isInteger(coordinateSize) || coordinateSize <= 0) {
    throw new RangeError(`Invalid ECDSA coordinate size ${coordinateSize}`);
  }
  const sequence = reading(undefined, () => readOne(der));
  if (sequence.tag !== TAG.SEQUENCE) fail(`expected a SEQUENCE, found tag 0x${hex(sequence.tag)}`);
  const [r, s, ...rest] = reading(undefined, () => children(sequence));
  if (rest.length) fail("trailing bytes inside the SEQUENCE");
  const out = new Uint8Array(coordinateSize * 2);
  out.set(coordinate(r, "r", coordinateSize), 0);
  out.set(coordinate(s, "s", coordinateSize), coordinateSize);
  return out;
}

/** The integer's magnitude, left-padded to `size` bytes. */
function coordinate(el: Tlv | undefined, name: "r" | "s", size: number): Uint8Array {
  if (!el) fail(`${name} is missing`);
  if (el.tag !== TAG.INTEGER) fail(`${name} is not an INTEGER (tag 0x${hex(el.tag)})`);
  const v = reading(name, () => decodeUnsignedInteger(el));
  if (v.length > size) fail(`${name} is longer than ${size} bytes`);
  if (v.every((b) => b === 0)) fail(`${name} is zero`);
  const out = new Uint8Array(size);
  out.set(v, size - v.length);
  return out;
}

/** Runs `read`, turning a DerError into our SyntaxError (naming `part` when given). */
function reading<T>(part: "r" | "s" | undefined, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DerError) fail(part ? `${part}: ${e.message}` : e.message, e);
    throw e;
  }
}

function fail(detail: string, cause?: unknown): never {
  throw new SyntaxError(`Invalid ECDSA signature DER: ${detail}`, { cause });
}
