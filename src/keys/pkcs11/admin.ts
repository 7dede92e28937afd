/**
 * What the `hsm` commands need: list tokens (no login), list keys, generate a key pair on the
 * token. Each call opens the module, does its work and releases it.
 */
import { der } from "../../x509/mod.ts";
import type { KeyType } from "../signing_key.ts";
import { type Curve, describeKeyType, OID, sameKey } from "../spki.ts";
import { schemeName } from "../schemes.ts";
import { CKM, signMechanisms, tokenSchemes } from "./_mechanisms.ts";
import { Buffer, CKM_EC_EDWARDS_KEY_PAIR_GEN, pkcs11js, Pkcs11Module } from "./_module.ts";
import { findPrivateKeys, idHex } from "./_objects.ts";
import { openTokenSession, type TokenAccessOptions } from "./_session.ts";
import { listTokenDescriptions, noToken, type TokenDescription } from "./_tokens.ts";
import { keyUriOf } from "./pkcs11_key.ts";
import type { KeyUri } from "./uri.ts";

export interface TokenListing {
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly slotId: string;
  readonly flags: readonly string[];
  readonly uri: string;
}

function listing(t: TokenDescription): TokenListing {
  return {
    label: t.label,
    serial: t.serial,
    manufacturer: t.manufacturer,
    model: t.model,
    slotId: t.slotId.toString(),
    flags: t.flagNames,
    uri: t.uri.toString(),
  };
}

/** Every initialised token of the module; throws TokenNotFoundError when there is none. */
export function listTokens(
  opts: Pick<TokenAccessOptions, "modulePath" | "p11KitServerAddress">,
): TokenListing[] {
  const mod = Pkcs11Module.acquire(opts.modulePath, {
    p11KitServerAddress: opts.p11KitServerAddress,
  });
  try {
    const tokens = listTokenDescriptions(mod);
    if (tokens.length === 0) throw noToken(mod);
    return tokens.map(listing);
  } finally {
    mod.release();
  }
}

export interface KeyListing {
  readonly label: string;
  readonly idHex: string;
  /** "EC P-256", "RSA 2048", "Ed25519", or why the key cannot be used. */
  readonly type: string;
  readonly keyType?: KeyType;
  readonly uri: string;
  /** TLS schemes the token can produce with this key. */
  readonly schemes: readonly string[];
  /** Undefined when no certificate was given or the public key is unreadable. */
  readonly matchesCertificate?: boolean;
}

/** The private keys on the selected token (after login, so private objects are visible). */
export function listKeys(
  opts: TokenAccessOptions & { certificateSpki?: Uint8Array },
): { token: TokenListing; keys: KeyListing[] } {
  // The URI selects the token here, not the key: list everything on it.
  const ts = openTokenSession(opts);
  try {
    const mechanisms = signMechanisms(ts.mod, ts.token.slot);
    const keys = findPrivateKeys(ts.mod, ts.session, {}).map((k): KeyListing => ({
      label: k.label,
      idHex: idHex(k.id),
      type: k.keyType ? describeKeyType(k.keyType) : `unsupported: ${k.unsupported}`,
      keyType: k.keyType,
      uri: keyUriOf(ts.token, k).toString(),
      schemes: k.keyType ? tokenSchemes(k.keyType, mechanisms).map(schemeName) : [],
      matchesCertificate: opts.certificateSpki && k.spki
        ? sameKey(k.spki, opts.certificateSpki)
        : undefined,
    }));
    return { token: listing(ts.token), keys };
  } finally {
    ts.close();
  }
}

export type CreateKeySpec =
  | { readonly type: "ecdsa"; readonly curve: Extract<Curve, "P-256" | "P-384"> }
  | { readonly type: "rsa"; readonly bits: 2048 | 3072 | 4096 }
  | { readonly type: "ed25519" };

export interface CreatedKey {
  readonly uri: KeyUri;
  readonly label: string;
  readonly id: Uint8Array;
  readonly keyType: KeyType;
  readonly publicKeySpki: Uint8Array;
}

/**
 * Generates a key pair on the token: the private key stays there (CKA_SENSITIVE, not
 * CKA_EXTRACTABLE) and may only sign. Refuses a label or id that a private key already has.
 */
export async function createKey(
  opts: TokenAccessOptions,
  spec: CreateKeySpec,
  names: { label?: string; id?: Uint8Array } = {},
): Promise<CreatedKey> {
  const label = names.label ?? "device-key";
  const id: Uint8Array = names.id ?? crypto.getRandomValues(new Uint8Array(8));
  const ts = openTokenSession(opts, { readWrite: true });
  try {
    for (const [what, filter] of [["label", { label }], ["id", { id }]] as const) {
      const clash = findPrivateKeys(ts.mod, ts.session, filter);
      if (clash.length) {
        throw new Error(
          `A private key with ${what} ${what === "id" ? idHex(id) : `"${label}"`} already exists ` +
            `on token "${ts.token.label}" ("${keyUriOf(ts.token, clash[0])}"): choose another ` +
            `--${what}`,
        );
      }
    }
    const { mechanism, publicTemplate, privateTemplate } = keyPairTemplates(spec, label, id);
    const what = `Cannot generate a key pair on token "${ts.token.label}"`;
    checkCanCreate(ts.mod, ts.token, spec, what);
    try {
      await ts.mod.p11.C_GenerateKeyPairAsync(
        ts.session,
        { mechanism },
        publicTemplate,
        privateTemplate,
      );
    } catch (e) {
      throw ts.mod.error("C_GenerateKeyPair", e, what);
    }
    const [created] = findPrivateKeys(ts.mod, ts.session, { id, label });
    if (!created?.keyType || !created.spki) {
      throw new Error(
        `${what}: the new key cannot be read back (${created?.unsupported ?? "not found"})`,
      );
    }
    return {
      uri: keyUriOf(ts.token, created),
      label,
      id,
      keyType: created.keyType,
      publicKeySpki: created.spki,
    };
  } finally {
    ts.close();
  }
}

/** What a key of each type is generated with and signs TLS 1.3 with (see _mechanisms.ts). */
const MECHANISMS = {
  ecdsa: { generate: pkcs11js.CKM_EC_KEY_PAIR_GEN, sign: CKM.ECDSA, signName: "CKM_ECDSA" },
  rsa: {
    generate: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
    sign: CKM.RSA_PKCS_PSS,
    signName: "CKM_RSA_PKCS_PSS",
  },
  ed25519: { generate: CKM_EC_EDWARDS_KEY_PAIR_GEN, sign: CKM.EDDSA, signName: "CKM_EDDSA" },
} as const;

/**
 * Refuses, before anything is written to the token, a key type the token cannot make or
 * cannot sign with (p11-kit-client, for one, forwards no EdDSA; opencryptoki's soft token in
 * Debian 12 makes no EC keys), naming the types it can: a key that is created but useless
 * would only have to be deleted again.
 */
function checkCanCreate(
  mod: Pkcs11Module,
  token: TokenDescription,
  spec: CreateKeySpec,
  what: string,
): void {
  const listed = mod.call("C_GetMechanismList", what, (p) => p.C_GetMechanismList(token.slot));
  const signs = signMechanisms(mod, token.slot);
  const usable = (type: CreateKeySpec["type"]) =>
    listed.includes(MECHANISMS[type].generate) && signs.has(MECHANISMS[type].sign);
  if (usable(spec.type)) return;
  const { generate, signName } = MECHANISMS[spec.type];
  const missing = !listed.includes(generate)
    ? `it does not offer ${spec.type} key generation (mechanism 0x${generate.toString(16)})`
    : `it cannot sign with a ${spec.type} key (no ${signName})`;
  const offered = (Object.keys(MECHANISMS) as CreateKeySpec["type"][]).filter(usable);
  throw new Error(
    `${what}: ${missing}; choose another --type: ${
      offered.length
        ? `this token can make ${offered.join(", ")}`
        : "this token makes no key type hsm-bridge can sign with"
    }`,
  );
}

/**
 * Templates for C_GenerateKeyPair: a token object; the private key sensitive, never extractable
 * and usable for signing only (PKCS#11 v2.40 sections 4.8-4.9).
 *
 * The public key's usage attributes are left to the token. tpm2-pkcs11 derives CKA_VERIFY and
 * CKA_ENCRYPT of the public key from the TPM object attributes that the private key's CKA_SIGN
 * and CKA_DECRYPT select, and refuses a template that says otherwise ("User specified and TPM
 * specified attr mismatch", CKR_GENERAL_ERROR); SoftHSM and opencryptoki apply their defaults.
 * A public key can do no harm, and the private key may only sign on every token.
 */
function keyPairTemplates(spec: CreateKeySpec, label: string, id: Uint8Array) {
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(id) },
  ];
  const publicTemplate: pkcs11js.Template = [...common];
  const privateTemplate: pkcs11js.Template = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    // Tokens default these to true (SoftHSM does): a device key only signs.
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
  if (spec.type === "rsa") {
    publicTemplate.push(
      { type: pkcs11js.CKA_MODULUS_BITS, value: spec.bits },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    );
    return { mechanism: MECHANISMS.rsa.generate, publicTemplate, privateTemplate };
  }
  // CKA_EC_PARAMS: the curve's OID (for Ed25519 the RFC 8410 OID, which SoftHSM and PKCS#11
  // v3.0 accept besides the "edwards25519" printable string).
  const params = der.oid(spec.type === "ecdsa" ? OID[spec.curve] : OID.ed25519);
  publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(params) });
  return { mechanism: MECHANISMS[spec.type].generate, publicTemplate, privateTemplate };
}
