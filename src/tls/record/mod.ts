/**
 * Records (RFC 8446 section 5): plaintext framing, the record layer (reads, the write queue,
 * alerts) and record protection with its AEAD backends (libcrypto through FFI, node:crypto).
 */
export { ContentType, encodePlaintextRecord, MAX_PLAINTEXT, RecordReader } from "./record.ts";
export { type InboundRecord, RecordLayer } from "./record_layer.ts";
export { RecordDecrypter, RecordEncrypter } from "./record_protection.ts";
