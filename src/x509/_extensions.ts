/**
 * The certificate extensions whose meaning we enforce, read strictly from their DER
 * (RFC 5280 section 4.2). Anything malformed throws a DerError.
 */
import {
  children,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeSmallUint,
  DerError,
  expectTag,
  readOne,
  TAG,
  type Tlv,
} from "./der.ts";

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  anyExtendedKeyUsage: "2.5.29.37.0",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** Critical extensions this module processes (RFC 5280 4.2: others make the certificate unusable). */
const UNDERSTOOD = new Set<string>([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.authorityKeyIdentifier,
  OID.extKeyUsage,
  // No policy processing: with an initial policy set of anyPolicy and no policy constraint
  // understood (a critical policyConstraints is refused), the policies cannot make a path
  // invalid (RFC 5280 6.1), so a critical certificatePolicies is safe to accept.
  OID.certificatePolicies,
]);

/** keyUsage bit numbers (RFC 5280 4.2.1.3). */
export const KeyUsageBit = { digitalSignature: 0, keyCertSign: 5 } as const;

/** GeneralName forms (RFC 5280 4.2.1.6) used for host names. */
export interface GeneralNames {
  readonly dns: readonly string[];
  readonly ip: readonly Uint8Array[];
  /** Context tag numbers of the other forms present (email 1, directoryName 4, URI 6, ...). */
  readonly otherForms: readonly number[];
}

export interface Subtree {
  readonly form: number;
  readonly dns?: string;
  /** Address followed by mask: 8 bytes for IPv4, 32 for IPv6. */
  readonly ipRange?: Uint8Array;
}

export interface NameConstraints {
  readonly permitted?: readonly Subtree[];
  readonly excluded?: readonly Subtree[];
}

export interface Extensions {
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number };
  /** The keyUsage BIT STRING bytes. */
  readonly keyUsage?: Uint8Array;
  readonly extKeyUsage?: readonly string[];
  readonly subjectAltName?: GeneralNames;
  /** The keyIdentifier of authorityKeyIdentifier (absent when the extension or field is). */
  readonly authorityKeyId?: Uint8Array;
  /** The fields present in authorityKeyIdentifier, when the extension is (RFC 5280 4.2.1.1). */
  readonly authorityKeyFields?: {
    readonly keyIdentifier: boolean;
    readonly authorityCertIssuer: boolean;
    readonly authorityCertSerialNumber: boolean;
  };
  readonly subjectKeyId?: Uint8Array;
  readonly nameConstraints?: NameConstraints;
  /** OIDs of critical extensions not in the understood list. */
  readonly unknownCritical: readonly string[];
  /** OIDs of every extension marked critical (the understood ones included). */
  readonly critical: readonly string[];
}

export function hasKeyUsage(bits: Uint8Array, bit: number): boolean {
  return ((bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0;
}

/** Reads `extensions` (the [3] EXPLICIT element of a TBSCertificate). */
export function parseExtensions(tlv: Tlv | undefined): Extensions {
  // deno-lint-ignore no-explicit-any
  const out: Record<string, any> = { unknownCritical: [], critical: [] };
  if (!tlv) return out as Extensions;
  const seen = new Set<string>();
  const list = children(readOne(tlv.value, TAG.SEQUENCE));
  if (list.length === 0) throw new DerError("empty extensions");
  for (const ext of list) {
    const parts = children(expectTag(ext, TAG.SEQUENCE));
    const oid = decodeOid(parts[0]);
    let critical = false;
    let i = 1;
    if (parts[i]?.tag === TAG.BOOLEAN) critical = decodeBoolean(parts[i++]);
    const value = expectTag(parts[i++], TAG.OCTET_STRING).value;
    if (i !== parts.length) throw new DerError(`malformed extension ${oid}`);
    // RFC 5280 4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    seen.add(oid);
    if (critical) out.critical.push(oid);
    if (critical && !UNDERSTOOD.has(oid)) out.unknownCritical.push(oid);
    try {
      readExtension(out, oid, value);
    } catch (e) {
      throw new DerError(`malformed extension ${oid}: ${(e as Error).message}`);
    }
  }
  return out as Extensions;
}

// deno-lint-ignore no-explicit-any
function readExtension(out: Record<string, any>, oid: string, value: Uint8Array): void {
  switch (oid) {
    case OID.basicConstraints: {
      const items = children(readOne(value, TAG.SEQUENCE));
      let ca = false;
      let i = 0;
      if (items[i]?.tag === TAG.BOOLEAN) ca = decodeBoolean(items[i++]);
      const pathLen = items[i] ? decodeSmallUint(items[i++]) : undefined;
      if (i !== items.length) throw new DerError("trailing elements");
      out.basicConstraints = { ca, pathLen };
      return;
    }
    case OID.keyUsage:
      out.keyUsage = decodeBitString(readOne(value)).bytes;
      return;
    case OID.extKeyUsage: {
      const items = children(readOne(value, TAG.SEQUENCE));
      if (items.length === 0) throw new DerError("empty extKeyUsage");
      out.extKeyUsage = items.map(decodeOid);
      return;
    }
    case OID.subjectAltName: {
      const items = children(readOne(value, TAG.SEQUENCE));
      if (items.length === 0) throw new DerError("empty subjectAltName");
      out.subjectAltName = readGeneralNames(items);
      return;
    }
    case OID.subjectKeyIdentifier:
      out.subjectKeyId = readOne(value, TAG.OCTET_STRING).value;
      return;
    case OID.authorityKeyIdentifier: {
      // SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1] OPTIONAL,
      // authorityCertSerialNumber [2] OPTIONAL }, in that order, each at most once.
      const items = children(readOne(value, TAG.SEQUENCE));
      const tags = [0x80, 0xa1, 0x82];
      let at = 0;
      for (const item of items) {
        const next = tags.indexOf(item.tag, at);
        if (next < 0) throw new DerError("unexpected or misplaced element");
        at = next + 1;
      }
      const keyId = items.find((t) => t.tag === 0x80);
      if (keyId) out.authorityKeyId = keyId.value;
      out.authorityKeyFields = {
        keyIdentifier: keyId !== undefined,
        authorityCertIssuer: items.some((t) => t.tag === 0xa1),
        authorityCertSerialNumber: items.some((t) => t.tag === 0x82),
      };
      return;
    }
    case OID.nameConstraints:
      out.nameConstraints = readNameConstraints(value);
      return;
  }
}

function readGeneralNames(items: Tlv[]): GeneralNames {
  const dns: string[] = [];
  const ip: Uint8Array[] = [];
  const otherForms: number[] = [];
  for (const item of items) {
    if (item.tag === 0x82) dns.push(ia5(item.value));
    else if (item.tag === 0x87) {
      if (item.value.length !== 4 && item.value.length !== 16) {
        throw new DerError(`iPAddress of ${item.value.length} bytes`);
      }
      ip.push(item.value);
    } else if ((item.tag & 0xc0) === 0x80) otherForms.push(item.tag & 0x1f);
    else throw new DerError("GeneralName without a context tag");
  }
  return { dns, ip, otherForms };
}

function readNameConstraints(value: Uint8Array): NameConstraints {
  const out: { permitted?: Subtree[]; excluded?: Subtree[] } = {};
  for (const part of children(readOne(value, TAG.SEQUENCE))) {
    if (part.tag !== 0xa0 && part.tag !== 0xa1) throw new DerError("unexpected element");
    const subtrees = children(part).map((st) => {
      const [base, ...rest] = children(expectTag(st, TAG.SEQUENCE));
      // RFC 5280 4.2.1.10: minimum MUST be zero and maximum MUST be absent.
      if (rest.length) throw new DerError("subtree with minimum or maximum");
      const form = base.tag & 0x1f;
      if (base.tag === 0x82) return { form, dns: ia5(base.value) };
      if (base.tag === 0x87) {
        if (base.value.length !== 8 && base.value.length !== 32) {
          throw new DerError(`iPAddress range of ${base.value.length} bytes`);
        }
        return { form, ipRange: base.value };
      }
      return { form };
    });
    if (subtrees.length === 0) throw new DerError("empty subtrees");
    if (part.tag === 0xa0) out.permitted = subtrees;
    else out.excluded = subtrees;
  }
  if (!out.permitted && !out.excluded) throw new DerError("empty nameConstraints");
  return out;
}

function ia5(bytes: Uint8Array): string {
  for (const b of bytes) if (b > 0x7e || b < 0x20) throw new DerError("non-ASCII IA5String");
  return String.fromCharCode(...bytes);
}
