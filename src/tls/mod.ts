/**
 * TLS client whose CertificateVerify is signed through the `SigningKey` seam, so a PKCS#11
 * token key can authenticate the device. TLS 1.3 (RFC 8446), and TLS 1.2 (RFC 5246) for servers
 * that have no TLS 1.3, limited to what rustls allows there; client side only.
 */
export { connectTls, startTls } from "./client.ts";
export type {
  HandshakeInfo,
  HandshakeTimings,
  TlsClientOptions,
  TlsConnection,
} from "./options.ts";
export type { RawTransport } from "./transport.ts";
export { type RandomSource, systemRandom } from "./random.ts";
export {
  TlsAlertReceivedError,
  TlsCertificateError,
  TlsClosedError,
  TlsDecodeError,
  TlsError,
  type TlsFault,
  TlsLocalError,
  TlsPeerIncompatibleError,
  TlsPeerMisbehavedError,
  TlsTimeoutError,
} from "./errors.ts";
export { Alert, type AlertName, alertName } from "./alert.ts";
export {
  CipherSuite,
  cipherSuiteName,
  Tls12CipherSuite,
  type TlsVersion,
} from "./cipher_suites.ts";
export { groupName, NamedGroup } from "./handshake/mod.ts";
