/**
 * The PKCS#11 provider's code: everything that calls into pkcs11js. Reached through
 * `loadPkcs11()` (mod.ts) only, so that the addon loads when a module is actually used.
 */
export { DEFAULT_SIGN_TIMEOUT_MS, keyUriOf, openPkcs11Key } from "./pkcs11_key.ts";
export { createKey, listKeys, listTokens } from "./admin.ts";
