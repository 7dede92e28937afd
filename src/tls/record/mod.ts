/**
 * Records (RFC 8446 section 5, RFC 5246 section 6): plaintext framing, the record layer (reads,
 * the write queue, alerts) and record protection, TLS 1.3 and TLS 1.2, with its AEAD backends
 * (libcrypto through FFI, node:crypto).
 */
export { ContentType, encodePlaintextRecord, MAX_PLAINTEXT, RecordReader } from "./record.ts";
export { type InboundRecord, RecordLayer } from "./record_layer.ts";
export {
  RecordDecrypter,
  RecordEncrypter,
  type RecordOpener,
  type RecordSealer,
} from "./record_protection.ts";
export { Tls12RecordDecrypter, Tls12RecordEncrypter } from "./record_protection12.ts";
