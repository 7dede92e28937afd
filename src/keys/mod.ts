/**
 * Key providers and the signing seam. TLS, the bridge and the CLI import from here only.
 */
export type { KeyType, Signer, SigningKey } from "./signing_key.ts";
export {
  hashLength,
  type HashName,
  isTls12Only,
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
  PinLockedError,
  Pkcs11Error,
  type Rv,
  SignTimeoutError,
  TokenNotFoundError,
} from "./errors.ts";
export { loadFileKey, MIN_FILE_RSA_BITS } from "./file/mod.ts";
// The PKCS#11 provider loads pkcs11js (a native addon): file keys and socket mode never load
// it; its door exports the pure URI parser and the types, and `loadPkcs11()` the rest.
export {
  type CreatedKey,
  type CreateKeySpec,
  type KeyListing,
  KeyUri,
  KeyUriError,
  type KeyUriFields,
  loadPkcs11,
  type ObjectType,
  type Pkcs11KeyOptions,
  type Pkcs11Provider,
  type TokenAccessOptions,
  type TokenListing,
} from "./pkcs11/mod.ts";
export {
  ALGORITHM,
  type CreateKeyFields,
  createKeyThrough,
  decodeFrame,
  decodeServerPublicKey,
  describeFrame,
  encodeFrame,
  encodeServerPublicKey,
  type Frame1,
  FrameError,
  type FrameOf,
  frameTag,
  type FrameType,
  type KeyDetails,
  type KeyTypeParams,
  keyTypeParams,
  listKeysThrough,
  listTokensThrough,
  MAX_FRAME_BYTES,
  openSocketKey,
  P11Client,
  P11ConnectionError,
  P11ServerError,
  P11VersionError,
  SIG_SCHEMES,
  SOCKET_SCHEMES,
  type SocketAccess,
  type SocketKeyOptions,
  type TokenDetails,
} from "./socket/mod.ts";
export { type KeyProviderOptions, openSigningKey } from "./provider.ts";
export { createCsr, parseSubject, signatureAlgorithm, type Subject } from "./csr.ts";
