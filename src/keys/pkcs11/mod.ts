/**
 * PKCS#11 tokens (module mode): the signing key, listings and on-token key generation.
 * pkcs11js is imported in this folder only (`_module.ts`), and nothing outside reaches it through
 * a static import: this door has the pure URI parser and the types, and `loadPkcs11()` loads the
 * rest (provider.ts) on first use. File keys and socket mode never load the native addon.
 */
export { KeyUri, KeyUriError, type KeyUriFields, type ObjectType } from "./uri.ts";
export type { Pkcs11KeyOptions } from "./pkcs11_key.ts";
export type { TokenAccessOptions } from "./_session.ts";
export type { CreatedKey, CreateKeySpec, KeyListing, TokenListing } from "./admin.ts";

/** The provider's functions (provider.ts). */
export type Pkcs11Provider = typeof import("./provider.ts");

/** The PKCS#11 provider, loaded on first use (it imports pkcs11js, a native addon). */
export function loadPkcs11(): Promise<Pkcs11Provider> {
  return import("./provider.ts");
}
