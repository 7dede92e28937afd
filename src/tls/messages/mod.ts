/** Handshake message codecs (RFC 8446 section 4; TLS 1.2 ones from RFC 5246 and RFC 8422). */
export * from "./handshake.ts";
export * from "./extensions.ts";
export * from "./client_hello.ts";
export * from "./server_hello.ts";
export * from "./encrypted_extensions.ts";
export * from "./certificate_request.ts";
export * from "./certificate.ts";
export * from "./certificate_verify.ts";
export * from "./finished.ts";
export * from "./new_session_ticket.ts";
export * from "./key_update.ts";
export * from "./tls12.ts";
