/**
 * X.509 for hsm-bridge: PEM/DER helpers, certificate files, the trust store, server chain
 * verification and the host name check. Imports nothing else of ours.
 */
export { base64Decode, base64Encode, decodePem, encodePem, type PemBlock } from "./pem.ts";
/** The strict DER reader and builder, as one namespace (keys builds and reads its keys with it). */
export * as der from "./der.ts";
export { type CertificateAlert, CertificateError, CertificateFileError } from "./errors.ts";
export {
  certificateMatchesPublicKey,
  commonName,
  derOf,
  describe as describeCertificate,
  loadCertificateFile,
  parseCertificate,
  parseCertificateChainPem,
  spkiOf,
  type X509Certificate,
} from "./certificate.ts";
export {
  certificateHostNames,
  formatIp,
  matchesDnsPattern,
  matchesServerName,
  parseIp,
  parseServerName,
  type ServerName,
} from "./hostname.ts";
export { ecdsaCoordinateSize, ecdsaDerToRaw, ecdsaRawToDer } from "./ecdsa_der.ts";
export {
  importVerifyKey,
  MIN_RSA_BITS,
  type PublicKeyInfo,
  publicKeyInfo,
  type SignatureAlgorithm,
  UnsupportedAlgorithmError,
  verifySpkiSignature,
} from "./signature.ts";
export { TrustStore } from "./trust_store.ts";
export {
  MAX_CHAIN_CERTIFICATES,
  MAX_PATH_LENGTH,
  type VerifiedChain,
  verifyServerChain,
  type VerifyServerChainOptions,
} from "./chain.ts";
