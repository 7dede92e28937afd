/**
 * Tokens: what is plugged in, and which one the configuration means (COMPAT.md section 2).
 * Token fields are blank-padded fixed-size strings in CK_TOKEN_INFO (PKCS#11 v2.40 section
 * 3.2); some modules pad with NUL bytes instead (tpm2-pkcs11: model "SW   TPM\0\0\0..."). Both
 * are trimmed here, and a URI's value is compared trimmed too, so that a URI written from an
 * untrimmed listing still matches.
 */
import { KeyConfigError, TokenNotFoundError } from "../errors.ts";
import { type Handle, pkcs11js, type Pkcs11Module } from "./_module.ts";
import { KeyUri } from "./uri.ts";

export interface TokenDescription {
  /** The slot handle (for Cryptoki calls) and its numeric id (for `slot-id=`). */
  readonly slot: Handle;
  readonly slotId: bigint;
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly flags: number;
  /** CKF_ names of the set flags, for listings. */
  readonly flagNames: readonly string[];
  /** `pkcs11:token=...;serial=...;manufacturer=...;model=...` */
  readonly uri: KeyUri;
}

const FLAG_NAMES: [number, string][] = [
  [0x1, "RNG"],
  [0x2, "WRITE_PROTECTED"],
  [0x4, "LOGIN_REQUIRED"],
  [0x8, "USER_PIN_INITIALIZED"],
  [0x20, "RESTORE_KEY_NOT_NEEDED"],
  [0x40, "CLOCK_ON_TOKEN"],
  [0x100, "PROTECTED_AUTHENTICATION_PATH"],
  [0x200, "DUAL_CRYPTO_OPERATIONS"],
  [0x400, "TOKEN_INITIALIZED"],
  [0x800, "SECONDARY_AUTHENTICATION"],
  [0x10000, "USER_PIN_COUNT_LOW"],
  [0x20000, "USER_PIN_FINAL_TRY"],
  [0x40000, "USER_PIN_LOCKED"],
  [0x80000, "USER_PIN_TO_BE_CHANGED"],
  [0x100000, "SO_PIN_COUNT_LOW"],
  [0x200000, "SO_PIN_FINAL_TRY"],
  [0x400000, "SO_PIN_LOCKED"],
  [0x800000, "SO_PIN_TO_BE_CHANGED"],
];

export function flagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** A CK_SLOT_ID handle (a native-endian CK_ULONG) as a number. */
export function slotIdOf(slot: Handle): bigint {
  const bytes = new Uint8Array(slot);
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** A CK_TOKEN_INFO text field without its padding (blanks or NUL bytes, either end). */
export function tokenField(value: string): string {
  return value.replace(/^[\s\0]+|[\s\0]+$/g, "");
}

/** Every present, initialised token (uninitialised slots, like SoftHSM's spare one, are left out). */
export function listTokenDescriptions(mod: Pkcs11Module): TokenDescription[] {
  const what = `Cannot list the tokens of PKCS#11 module "${mod.path}"`;
  const slots = mod.call("C_GetSlotList", what, (p) => p.C_GetSlotList(true));
  const out: TokenDescription[] = [];
  for (const slot of slots) {
    const info = mod.call("C_GetTokenInfo", what, (p) => p.C_GetTokenInfo(slot));
    if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) continue;
    const label = tokenField(info.label);
    const serial = tokenField(info.serialNumber);
    const manufacturer = tokenField(info.manufacturerID);
    const model = tokenField(info.model);
    out.push({
      slot,
      slotId: slotIdOf(slot),
      label,
      serial,
      manufacturer,
      model,
      flags: info.flags,
      flagNames: flagNames(info.flags),
      uri: new KeyUri({ token: label, serial, manufacturer, model }),
    });
  }
  return out;
}

export interface TokenSelector {
  uri?: KeyUri;
  /** Legacy device.cryptoki.serial: the same as `serial=` in the URI. */
  serial?: string;
}

/** The URI with the legacy serial merged in; a conflict between the two is a config error. */
export function selectorUri(sel: TokenSelector): KeyUri {
  const uri = sel.uri ?? new KeyUri();
  if (sel.serial === undefined || sel.serial === "") return uri;
  if (uri.serial !== undefined && uri.serial !== sel.serial) {
    throw new KeyConfigError(
      `Token serial "${sel.serial}" (device.cryptoki.serial) contradicts serial "${uri.serial}" ` +
        `in key URI "${uri}": remove one of them`,
    );
  }
  return uri.with({ serial: sel.serial });
}

/** Whether the token is the one the URI's token attributes name (RFC 7512 section 2.3). */
export function tokenMatches(
  t: Pick<TokenDescription, "label" | "serial" | "manufacturer" | "model" | "slotId">,
  uri: KeyUri,
): boolean {
  const same = (wanted: string | undefined, actual: string) =>
    wanted === undefined || tokenField(wanted) === actual;
  return same(uri.token, t.label) && same(uri.serial, t.serial) &&
    same(uri.manufacturer, t.manufacturer) && same(uri.model, t.model) &&
    (uri.slotId === undefined || uri.slotId === t.slotId);
}

function hasTokenSelector(uri: KeyUri): boolean {
  return [uri.token, uri.serial, uri.manufacturer, uri.model, uri.slotId].some((v) =>
    v !== undefined
  );
}

/** The token the selector means: the first match, or the only token when nothing is given. */
export function selectToken(mod: Pkcs11Module, sel: TokenSelector): TokenDescription {
  const uri = selectorUri(sel);
  const tokens = listTokenDescriptions(mod);
  if (tokens.length === 0) throw noToken(mod);
  if (!hasTokenSelector(uri)) {
    if (tokens.length === 1) return tokens[0];
    throw new KeyConfigError(
      `Several tokens found in PKCS#11 module "${mod.path}": choose one with token= or serial= ` +
        `in the key URI (device.key_uri): ${tokens.map((t) => t.uri.toString()).join(", ")}`,
    );
  }
  const found = tokens.find((t) => tokenMatches(t, uri));
  if (found) return found;
  throw new TokenNotFoundError(
    `No token matches "${uri.with({ object: undefined, id: undefined, type: undefined })}" in ` +
      `PKCS#11 module "${mod.path}" (the device may be disconnected); tokens present: ` +
      tokens.map((t) => t.uri.toString()).join(", "),
  );
}

/** "No token found" naming the module, or the p11-kit server address for p11-kit-client. */
export function noToken(mod: Pkcs11Module): TokenNotFoundError {
  if (mod.isP11KitClient) {
    const address = mod.p11KitServerAddress ?? Deno.env.get("P11_KIT_SERVER_ADDRESS") ?? "(unset)";
    return new TokenNotFoundError(
      `No token found through p11-kit client module "${mod.path}" at server address ` +
        `"${address}": is "p11-kit server" running there and does it export a token?`,
    );
  }
  return new TokenNotFoundError(
    `No token found in PKCS#11 module "${mod.path}": the device may be disconnected`,
  );
}
