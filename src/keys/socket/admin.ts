/**
 * The `hsm` commands through tedge-p11-server: the same listings and key creation as the
 * PKCS#11 provider's (keys/pkcs11/admin.ts), built from the server's answers.
 *
 * A server before ListTokensRequest (tedge-p11-server 2.0.x) still has GetTokensUrisRequest:
 * its token URIs stand in, with what they say (label, serial, manufacturer, model).
 */
import type { Secret } from "../../secret.ts";
import {
  type CreatedKey,
  type CreateKeySpec,
  type KeyListing,
  KeyUri,
  type TokenListing,
} from "../pkcs11/mod.ts";
import { schemeName } from "../schemes.ts";
import { describeKeyType, parseSpki, sameKey } from "../spki.ts";
import type { P11Client } from "./client.ts";
import { P11ServerError, P11VersionError } from "./errors.ts";
import type { KeyTypeParams, TokenDetails } from "./frame.ts";
import { decodeServerPublicKey } from "./public_key.ts";
import { SOCKET_SCHEMES } from "./socket_key.ts";

/** Which token (and key) and PIN the requests carry: device.key_uri and device.key_pin. */
export interface SocketAccess {
  readonly client: P11Client;
  readonly uri?: KeyUri;
  readonly pin?: Secret;
}

function tokenListing(t: TokenDetails): TokenListing {
  return {
    label: t.label,
    serial: t.serial,
    manufacturer: t.manufacturer,
    model: t.model,
    slotId: t.slot.toString(),
    flags: t.initialized ? ["TOKEN_INITIALIZED"] : [],
    uri: t.uri,
  };
}

function listingOfUri(text: string): TokenListing {
  let uri: KeyUri | undefined;
  try {
    uri = KeyUri.parse(text);
  } catch { /* shown as the server sent it */ }
  return {
    label: uri?.token ?? "",
    serial: uri?.serial ?? "",
    manufacturer: uri?.manufacturer ?? "",
    model: uri?.model ?? "",
    slotId: uri?.slotId?.toString() ?? "",
    flags: [],
    uri: text,
  };
}

/** The server's tokens (ListTokens; token URIs from an older server). */
export async function listTokensThrough(access: SocketAccess): Promise<TokenListing[]> {
  try {
    return (await access.client.listTokens()).map(tokenListing);
  } catch (e) {
    if (!(e instanceof P11VersionError)) throw e;
    return (await access.client.tokenUris()).map(listingOfUri);
  }
}

/** The private keys on the token the URI selects, with what the server tells about each. */
export async function listKeysThrough(
  access: SocketAccess,
  certificateSpki?: Uint8Array,
): Promise<{ token: TokenListing; keys: KeyListing[] }> {
  const { client, pin } = access;
  const uri = access.uri?.toString({ includePin: true });
  const objects = (await client.listKeys(uri, pin)).filter((k) => k.class === "private");
  const keys: KeyListing[] = [];
  for (const k of objects) {
    let spki: Uint8Array | undefined;
    let scheme: number | undefined;
    try {
      spki = decodeServerPublicKey(await client.publicKeyPem(k.uri));
      scheme = (await client.chooseScheme(SOCKET_SCHEMES, k.uri, pin)).scheme;
    } catch (e) {
      if (!(e instanceof P11ServerError) && !(e instanceof RangeError)) throw e;
    }
    const keyType = spki ? parseSpki(spki).keyType : undefined;
    keys.push({
      label: k.label,
      idHex: k.id,
      type: keyType ? describeKeyType(keyType) : k.keyType || "unknown",
      keyType,
      uri: k.uri,
      schemes: scheme === undefined ? [] : [schemeName(scheme)],
      matchesCertificate: certificateSpki && spki ? sameKey(spki, certificateSpki) : undefined,
    });
  }
  return { token: await tokenOf(access, objects[0]?.uri), keys };
}

/** The token of the listing: the one the keys' (or the configured) URI names. */
async function tokenOf(access: SocketAccess, keyUri: string | undefined): Promise<TokenListing> {
  const named = keyUri
    ? listingOfUri(keyUri)
    : access.uri
    ? listingOfUri(access.uri.toString())
    : undefined;
  const tokens = await listTokensThrough(access).catch(() => []);
  const match = tokens.filter((t) =>
    (!named?.label || t.label === named.label) && (!named?.serial || t.serial === named.serial)
  );
  return match.length === 1 ? match[0] : named ?? listingOfUri("pkcs11:");
}

/** CreateKeyRequest's key parameters; Ed25519 has none (RangeError). */
export function keyTypeParams(spec: CreateKeySpec): KeyTypeParams {
  if (spec.type === "ecdsa") return { kind: "ec", curve: spec.curve === "P-384" ? 384 : 256 };
  if (spec.type === "rsa") return { kind: "rsa", bits: spec.bits };
  throw new RangeError("tedge-p11-server's protocol creates RSA and EC keys only");
}

/** Generates a key pair on the server's token (the token device.key_uri names, if any). */
export async function createKeyThrough(
  access: SocketAccess,
  spec: CreateKeySpec,
  names: { label?: string; id?: Uint8Array } = {},
): Promise<CreatedKey> {
  const label = names.label ?? "device-key";
  const created = await access.client.createKey({
    uri: access.uri?.toString({ includePin: true }) ?? "pkcs11:",
    key: keyTypeParams(spec),
    label,
    id: names.id,
    pin: access.pin,
  });
  const publicKeySpki = decodeServerPublicKey(created.pem);
  const uri = KeyUri.parse(created.uri);
  return {
    uri,
    label,
    id: names.id ?? uri.id ?? new Uint8Array(),
    keyType: parseSpki(publicKeySpki).keyType,
    publicKeySpki,
  };
}
