/**
 * The TLS 1.2 client handshake (RFC 5246 with RFC 8422, RFC 7627, RFC 5746), entered from the
 * TLS 1.3 ClientHandshake when the server answers our ClientHello with TLS 1.2.
 */
export { CHANGE_CIPHER_SPEC, Tls12Handshake, type Tls12Io } from "./handshake.ts";
