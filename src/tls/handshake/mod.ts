/**
 * The client handshake: TLS 1.3 (RFC 8446 section 4): ClientHello, the server's flight and its
 * authentication, the client's flight with the token-signed CertificateVerify; TLS 1.2 (tls12/)
 * when the server answers with it; and the pieces each step uses (key shares, transcript,
 * signature checks).
 */
export { ClientHandshake } from "./handshake.ts";
export type { HandshakeConfig, HandshakeOutcome } from "./config.ts";
export { buildClientHello } from "./client_hello_builder.ts";
export { checkGroups, DEFAULT_GROUPS, groupName, KeyShare, NamedGroup } from "./key_share.ts";
export { x509ChainVerifier } from "./server_auth.ts";
export { withWithheldCertificate } from "./client_auth.ts";
export {
  certificateVerifyContent,
  CLIENT_CONTEXT,
  SERVER_CONTEXT,
  verifyServerSignature,
} from "./signature.ts";
export { Transcript } from "./transcript.ts";
