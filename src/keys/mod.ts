/**
 * Key providers and the signing seam. TLS, the bridge and the CLI import from here only.
 */
export type { KeyType, Signer, SigningKey } from "./signing_key.ts";
export {
  hashLength,
  type HashName,
  type SchemeInfo,
  schemeInfo,
  schemeName,
  schemesForKeyType,
  SignatureScheme,
} from "./schemes.ts";
// The ECDSA signature encodings live in x509 beside the DER reader; re-exported (the same
// bindings) so that TLS and other importers of keys keep finding them here.
export { ecdsaCoordinateSize, ecdsaDerToRaw, ecdsaRawToDer } from "../x509/mod.ts";
export { Secret } from "../secret.ts";
export type { ClosableSigningKey } from "./_key_base.ts";
export {
  type Curve,
  describeKeyType,
  ecSpki,
  ed25519Spki,
  parseSpki,
  rsaSpki,
  sameKey,
  verifySignature,
} from "./spki.ts";
export {
  formatRv,
  KeyConfigError,
  KeyFileError,
  KeyMismatchError,
  PinError,
  Pkcs11Error,
  type Rv,
  SignTimeoutError,
  TokenNotFoundError,
} from "./errors.ts";
export { loadFileKey, MIN_FILE_RSA_BITS } from "./file/mod.ts";
export {
  type CreatedKey,
  createKey,
  type CreateKeySpec,
  DEFAULT_SIGN_TIMEOUT_MS,
  type KeyListing,
  KeyUri,
  KeyUriError,
  listKeys,
  listTokens,
  openPkcs11Key,
  type Pkcs11KeyOptions,
  type TokenAccessOptions,
  type TokenListing,
} from "./pkcs11/mod.ts";
export { type KeyProviderOptions, openSigningKey } from "./provider.ts";
export { createCsr, parseSubject, signatureAlgorithm, type Subject } from "./csr.ts";
