/**
 * Key providers and the signing seam. TLS, the bridge and the CLI import from here only.
 */
export type { KeyType, Signer, SigningKey } from "./signing_key.ts";
export {
  type HashName,
  type SchemeInfo,
  schemeInfo,
  schemeName,
  SignatureScheme,
} from "./schemes.ts";
export { ecdsaCoordinateSize, ecdsaDerToRaw, ecdsaRawToDer } from "./ecdsa_der.ts";
export { Secret } from "../secret.ts";
