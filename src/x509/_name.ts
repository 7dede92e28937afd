/**
 * Display decoding of certificate fields, on the strict DER reader: distinguished names as text
 * (RFC 4514 style, in encoded order: `CN=broker.example, O=Acme`), their attribute values (the
 * common name), and validity times (RFC 5280 4.1.2.5). Names here are for messages and the
 * common-name fallback only; trust decisions compare the DER bytes.
 */
import { children, decodeOid, DerError, expectTag, hex, readOne, TAG, type Tlv } from "./der.ts";

/** Short names of the attribute types people write (others print as dotted OIDs). */
const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.42": "G",
  "2.5.4.43": "I",
  "2.5.4.4": "SN",
  "2.5.4.12": "T",
};

export const COMMON_NAME = "2.5.4.3";

/** One AttributeTypeAndValue: its OID and the value as text (undefined: not a string type). */
interface Attribute {
  readonly oid: string;
  readonly text: string | undefined;
  readonly value: Tlv;
}

/** The RDNs of a DER Name (SEQUENCE OF SET OF AttributeTypeAndValue), in encoded order. */
function attributes(name: Uint8Array): Attribute[][] {
  return children(readOne(name, TAG.SEQUENCE)).map((rdn) =>
    children(expectTag(rdn, TAG.SET), 1).map((atv) => {
      const [type, value, ...rest] = children(expectTag(atv, TAG.SEQUENCE), 2);
      if (rest.length) throw new DerError("malformed AttributeTypeAndValue");
      return { oid: decodeOid(type), text: stringValue(value), value };
    })
  );
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** The text of a directory string (X.520), or undefined for other value types. */
function stringValue(v: Tlv): string | undefined {
  switch (v.tag) {
    case 0x0c: // UTF8String
      return utf8.decode(v.value);
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x14: // TeletexString: in practice Latin-1
      return latin1.decode(v.value);
    case 0x1e: // BMPString: UTF-16BE
      return codeUnits(v.value, 2);
    case 0x1c: // UniversalString: UTF-32BE
      return codeUnits(v.value, 4);
    default:
      return undefined;
  }
}

function codeUnits(bytes: Uint8Array, width: 2 | 4): string {
  if (bytes.length % width !== 0) throw new DerError("string of odd length");
  const points: number[] = [];
  for (let i = 0; i < bytes.length; i += width) {
    let c = 0;
    for (let j = 0; j < width; j++) c = c * 256 + bytes[i + j];
    points.push(c);
  }
  if (width === 2) return String.fromCharCode(...points);
  if (points.some((p) => p > 0x10ffff)) throw new DerError("bad UniversalString");
  return String.fromCodePoint(...points);
}

/** RFC 4514 2.4 escaping, and control characters as \HH so that a name cannot forge log lines. */
function escape(text: string): string {
  return text
    .replace(/[,+"\\<>;]/g, "\\$&")
    .replace(/^[ #]/, "\\$&")
    .replace(/ $/, "\\ ")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\${hex(c.charCodeAt(0)).toUpperCase()}`);
}

/** A DER Name as text: `CN=broker.example, O=Acme` (multi-valued RDNs joined by `+`). */
export function formatName(name: Uint8Array): string {
  return attributes(name).map((rdn) =>
    rdn.map((a) => {
      const value = a.text === undefined ? `#${hex(a.value.bytes)}` : escape(a.text);
      return `${SHORT_NAMES[a.oid] ?? a.oid}=${value}`;
    }).join("+")
  ).join(", ");
}

/** The text values of attribute `oid` in a DER Name, in order (e.g. every CN). */
export function nameValues(name: Uint8Array, oid: string): string[] {
  const out: string[] = [];
  for (const rdn of attributes(name)) {
    for (const a of rdn) if (a.oid === oid && a.text !== undefined) out.push(a.text);
  }
  return out;
}

/**
 * A validity time (RFC 5280 4.1.2.5): UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or
 * GeneralizedTime `YYYYMMDDHHMMSSZ`, nothing else (no fractions, no offsets).
 */
export function decodeTime(tlv: Tlv): Date {
  const text = latin1.decode(tlv.value);
  let m: RegExpExecArray | null;
  let year: number;
  if (tlv.tag === 0x17) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (!m) throw new DerError(`bad UTCTime "${text}"`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tag === 0x18) {
    m = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (!m) throw new DerError(`bad GeneralizedTime "${text}"`);
    year = Number(m[1]);
  } else {
    throw new DerError(`expected a time, found tag 0x${hex(tlv.tag)}`);
  }
  const [month, day, hour, minute, second] = m.slice(2).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Date.UTC rolls over (February 30 becomes March 2): refuse what does not round-trip.
  if (
    d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day ||
    d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second
  ) {
    throw new DerError(`bad time "${text}"`);
  }
  return d;
}
