/**
 * Private key objects on a token and their public halves. The SPKI is built from the key's
 * attributes (PKCS#11 v3.0 sections 2.3 (EC), 2.1 (RSA), 2.3.5 (Edwards)): taken from the
 * private key object when it carries them, else from the public key object with the same
 * CKA_ID (SoftHSM, for one, keeps CKA_EC_POINT on the public object only).
 */
import { der, ecdsaCoordinateSize } from "../../x509/mod.ts";
import type { KeyType } from "../signing_key.ts";
import { type Curve, curveOfOid, describeOid, ecSpki, ed25519Spki, OID, rsaSpki } from "../spki.ts";
import {
  Buffer,
  CKK_EC_EDWARDS,
  type Handle,
  pkcs11js,
  type Pkcs11Module,
  rvOf,
} from "./_module.ts";

export interface KeyObject {
  readonly handle: Handle;
  readonly label: string;
  readonly id: Uint8Array;
  /** Undefined when the key is of a type we cannot sign with (then `unsupported` says why). */
  readonly keyType?: KeyType;
  readonly spki?: Uint8Array;
  readonly unsupported?: string;
}

const KEY_TYPE_NAMES: Record<number, string> = {
  0x0: "RSA",
  0x1: "DSA",
  0x2: "DH",
  0x3: "EC",
  0x40: "EC Edwards",
  0x41: "EC Montgomery",
};

/** A CK_ULONG attribute value (native-endian, 4 or 8 bytes). */
function ulong(b: Uint8Array): number {
  let v = 0;
  for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
  return v;
}

/** One attribute, or undefined when the object does not have it (or will not reveal it). */
export function attribute(
  mod: Pkcs11Module,
  session: Handle,
  handle: Handle,
  type: number,
): Uint8Array | undefined {
  try {
    const [a] = mod.p11.C_GetAttributeValue(session, handle, [{ type }]);
    return a.value ? new Uint8Array(a.value) : undefined;
  } catch (e) {
    const rv = rvOf(e)?.name;
    if (rv === "CKR_ATTRIBUTE_TYPE_INVALID" || rv === "CKR_ATTRIBUTE_SENSITIVE") return undefined;
    throw mod.error("C_GetAttributeValue", e, "Cannot read a key attribute");
  }
}

export interface ObjectFilter {
  label?: string;
  id?: Uint8Array;
}

/** Handles of the objects of `cls` matching the filter. */
export function findObjects(
  mod: Pkcs11Module,
  session: Handle,
  cls: number,
  filter: ObjectFilter,
): Handle[] {
  const template: { type: number; value: number | string | Buffer }[] = [
    { type: pkcs11js.CKA_CLASS, value: cls },
  ];
  if (filter.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: filter.label });
  if (filter.id !== undefined) {
    template.push({ type: pkcs11js.CKA_ID, value: Buffer.from(filter.id) });
  }
  const what = "Cannot search the token for keys";
  mod.call("C_FindObjectsInit", what, (p) => p.C_FindObjectsInit(session, template));
  try {
    const out: Handle[] = [];
    for (;;) {
      const batch = mod.call("C_FindObjects", what, (p) => p.C_FindObjects(session, 64));
      out.push(...batch);
      if (batch.length < 64) return out;
    }
  } finally {
    try {
      mod.p11.C_FindObjectsFinal(session);
    } catch { /* the search is over either way */ }
  }
}

/** Private keys matching the filter, with their types and public keys. */
export function findPrivateKeys(
  mod: Pkcs11Module,
  session: Handle,
  filter: ObjectFilter,
): KeyObject[] {
  return findObjects(mod, session, pkcs11js.CKO_PRIVATE_KEY, filter).map((h) =>
    describeKey(mod, session, h)
  );
}

function describeKey(mod: Pkcs11Module, session: Handle, handle: Handle): KeyObject {
  const label = new TextDecoder().decode(
    attribute(mod, session, handle, pkcs11js.CKA_LABEL) ?? new Uint8Array(),
  );
  const id = attribute(mod, session, handle, pkcs11js.CKA_ID) ?? new Uint8Array();
  const base = { handle, label, id };
  const typeAttr = attribute(mod, session, handle, pkcs11js.CKA_KEY_TYPE);
  const keyType = typeAttr ? ulong(typeAttr) : -1;
  // Public values: from the private key, else from its public key object.
  let pub: Handle | undefined | null = null;
  const pubAttr = (type: number): Uint8Array | undefined => {
    const own = attribute(mod, session, handle, type);
    if (own) return own;
    if (pub === null) {
      const filter = id.length ? { id } : { label };
      pub = findObjects(mod, session, pkcs11js.CKO_PUBLIC_KEY, filter)[0];
    }
    return pub ? attribute(mod, session, pub, type) : undefined;
  };
  try {
    if (keyType === pkcs11js.CKK_RSA) {
      const n = pubAttr(pkcs11js.CKA_MODULUS);
      const e = pubAttr(pkcs11js.CKA_PUBLIC_EXPONENT);
      if (!n || !e) return { ...base, unsupported: "RSA key without a readable public key" };
      return { ...base, keyType: { kind: "rsa", bits: der.bitLength(n) }, spki: rsaSpki(n, e) };
    }
    if (keyType === pkcs11js.CKK_EC || keyType === CKK_EC_EDWARDS) {
      const params = pubAttr(pkcs11js.CKA_EC_PARAMS);
      if (!params) return { ...base, unsupported: "EC key without CKA_EC_PARAMS" };
      const curve = curveOfParams(params);
      if (typeof curve === "object") return { ...base, unsupported: curve.unsupported };
      const rawPoint = pubAttr(pkcs11js.CKA_EC_POINT);
      if (!rawPoint) {
        return { ...base, unsupported: `${curve} key without a readable public point` };
      }
      if (curve === "Ed25519") {
        const point = unwrapPoint(rawPoint, 32);
        return { ...base, keyType: { kind: "ed25519" }, spki: ed25519Spki(point) };
      }
      const point = unwrapPoint(rawPoint, 1 + 2 * ecdsaCoordinateSize(curve));
      return { ...base, keyType: { kind: "ec", curve }, spki: ecSpki(curve, point) };
    }
  } catch (e) {
    return { ...base, unsupported: `unreadable public key: ${(e as Error).message}` };
  }
  const name = KEY_TYPE_NAMES[keyType] ?? `key type 0x${keyType.toString(16)}`;
  return { ...base, unsupported: `${name} keys cannot sign TLS 1.3 handshakes` };
}

/** The curve named by CKA_EC_PARAMS: a DER OID, or PrintableString "edwards25519" (v3.0). */
function curveOfParams(params: Uint8Array): Curve | "Ed25519" | { unsupported: string } {
  try {
    const { tlv } = der.readTlv(params);
    if (tlv.tag === der.TAG.PRINTABLE_STRING) {
      const name = new TextDecoder().decode(tlv.value);
      return name === "edwards25519" ? "Ed25519" : { unsupported: `curve "${name}"` };
    }
    if (tlv.tag !== der.TAG.OID) return { unsupported: "EC key with explicit curve parameters" };
    const oid = der.decodeOid(tlv);
    if (oid === OID.ed25519) return "Ed25519";
    return curveOfOid(oid) ?? { unsupported: describeOid(oid) };
  } catch {
    return { unsupported: "EC key with unreadable CKA_EC_PARAMS" };
  }
}

/**
 * CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 v2.40 section 2.3.3), but
 * some tokens (SoftHSM for Ed25519) store the bare point. A bare point has exactly `size`
 * bytes, which tells the two apart.
 */
function unwrapPoint(value: Uint8Array, size: number): Uint8Array {
  if (value.length === size) return value;
  const { tlv, end } = der.readTlv(value);
  if (tlv.tag !== der.TAG.OCTET_STRING || end !== value.length) {
    throw new RangeError(`CKA_EC_POINT is neither a ${size}-byte point nor an OCTET STRING`);
  }
  return tlv.value;
}

export function idHex(id: Uint8Array): string {
  return der.hex(id);
}
