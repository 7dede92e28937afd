/**
 * PKCS#11 tokens (module mode): the signing key, listings and on-token key generation.
 * pkcs11js is imported in this folder only (`_module.ts`).
 */
export { KeyUri, KeyUriError, type KeyUriFields, type ObjectType } from "./uri.ts";
export {
  DEFAULT_SIGN_TIMEOUT_MS,
  keyUriOf,
  openPkcs11Key,
  type Pkcs11KeyOptions,
} from "./pkcs11_key.ts";
export type { TokenAccessOptions } from "./_session.ts";
export {
  type CreatedKey,
  createKey,
  type CreateKeySpec,
  type KeyListing,
  listKeys,
  listTokens,
  type TokenListing,
} from "./admin.ts";
