/**
 * TLS error classes. Each says whose fault the failure was (after rustls):
 *
 * | class                       | fault               | example                                   |
 * |-----------------------------|---------------------|-------------------------------------------|
 * | TlsDecodeError              | peer sent garbage   | a length field points past the message    |
 * | TlsPeerMisbehavedError      | peer broke the rules| a second HelloRetryRequest, bad Finished  |
 * | TlsPeerIncompatibleError    | no common ground    | TLS 1.1 server, no EMS, no common suite   |
 * | TlsCertificateError         | peer's certificate  | unknown CA, expired, wrong host name      |
 * | TlsAlertReceivedError       | peer gave up        | server sent "bad_certificate"             |
 * | TlsTimeoutError             | nobody (slowness)   | handshake took longer than its timeout    |
 * | TlsLocalError               | our side            | the token failed to sign                  |
 * | TlsClosedError              | caller              | write after close                         |
 *
 * One rule for alerts, used by both failure paths (the handshake in client.ts and the
 * established connection in connection.ts): `alertToSend` is the alert RFC 8446 section 6.2 names
 * for the failure, and the only thing either path sends. It is fixed by the error's class and
 * constructor: decode_error for garbage, the named alert for a misbehaving or incompatible peer
 * or a refused certificate, internal_error for an unexpected failure on our side, and nothing
 * when the peer already gave up (an alert received), when we timed out or the socket broke (no
 * one to tell), or after close. The alert the peer sent is a separate field
 * (`TlsAlertReceivedError.received`). `cause` is the underlying error. `code` is a stable string
 * for stream consumers (mqtt.js drops stream errors that carry no `.code`).
 */

import { type ErrorKind, kindOf } from "../errors.ts";
import { Alert, type AlertName, alertName } from "./alert.ts";

export type TlsFault =
  | "decode"
  | "peer-misbehaved"
  | "peer-incompatible"
  | "certificate"
  | "alert-received"
  | "timeout"
  | "local"
  | "closed";

export abstract class TlsError extends Error {
  abstract readonly fault: TlsFault;
  abstract readonly code: string;
  /** The alert this failure makes us send to the peer (RFC 8446 6.2), if any. */
  readonly alertToSend: AlertName | undefined;

  constructor(message: string, alertToSend: AlertName | undefined, options?: ErrorOptions) {
    super(message, options);
    this.alertToSend = alertToSend;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The peer sent bytes that do not parse (RFC 8446 alert decode_error). */
export class TlsDecodeError extends TlsError {
  readonly fault = "decode";
  readonly code = "ERR_TLS_DECODE";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "decode_error", options);
  }
}

/** The peer violated the protocol: wrong message order, bad MAC, bad Finished, ... */
export class TlsPeerMisbehavedError extends TlsError {
  readonly fault = "peer-misbehaved";
  readonly code = "ERR_TLS_PEER_MISBEHAVED";
  constructor(message: string, alert: AlertName, options?: ErrorOptions) {
    super(message, alert, options);
  }
}

/** The peer follows the rules but we have nothing in common (version, suite, group, scheme). */
export class TlsPeerIncompatibleError extends TlsError {
  readonly fault = "peer-incompatible";
  readonly code = "ERR_TLS_PEER_INCOMPATIBLE";
  constructor(message: string, alert: AlertName, options?: ErrorOptions) {
    super(message, alert, options);
  }
}

/** The server's certificate chain or name was rejected by the x509 module. */
export class TlsCertificateError extends TlsError {
  readonly fault = "certificate";
  readonly code = "ERR_TLS_CERTIFICATE";
  /** Subject of the certificate that failed, when known. */
  readonly subject: string | undefined;
  /** What was wrong with it. */
  readonly reason: string;
  constructor(
    message: string,
    alert: AlertName,
    details: { subject?: string; reason: string },
    options?: ErrorOptions,
  ) {
    super(message, alert, options);
    this.subject = details.subject;
    this.reason = details.reason;
  }
}

/** The peer sent a fatal alert (or closed during the handshake). Nothing is sent back. */
export class TlsAlertReceivedError extends TlsError {
  readonly fault = "alert-received";
  readonly code = "ERR_TLS_ALERT_RECEIVED";
  /** The name of the alert the peer sent (`alert 123` for a code RFC 8446 does not define). */
  readonly received: string;
  /** Its code point. */
  readonly alertCode: number;
  constructor(message: string, alertCode: number) {
    super(message, undefined);
    this.received = alertName(alertCode);
    this.alertCode = alertCode;
  }
}

/** The handshake, a connect or a read in the middle of a record took too long. */
export class TlsTimeoutError extends TlsError {
  readonly fault = "timeout";
  readonly code = "ETIMEDOUT";
  constructor(message: string) {
    super(message, undefined);
  }
}

/**
 * A failure on our side: the signer (token) failed (internal_error), or the socket broke (no
 * alert: the socket cannot carry it). The cause's `kind` (a credential error from the key
 * provider, src/errors.ts) is kept, so the CLI exits with the code it asks for.
 */
export class TlsLocalError extends TlsError {
  readonly fault = "local";
  readonly code: string;
  readonly kind: ErrorKind | undefined;
  constructor(message: string, alert: AlertName | undefined, options?: ErrorOptions) {
    super(message, alert, options);
    const cause = options?.cause as { code?: unknown } | undefined;
    this.kind = kindOf(cause);
    this.code = typeof cause?.code === "string" ? cause.code : "ERR_TLS_LOCAL";
  }
}

/** The connection is closed (used after close, or after an earlier fatal error). */
export class TlsClosedError extends TlsError {
  readonly fault = "closed";
  readonly code = "ERR_TLS_CLOSED";
  constructor(message: string, options?: ErrorOptions) {
    super(message, undefined, options);
  }
}

/** The message of a thrown value, whatever was thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Any thrown value as a TlsError: a TlsError as it is, anything else as a failure on our side
 * that sends internal_error (RFC 8446 6.2). `what` says what failed (`TLS handshake failed`).
 */
export function asTlsError(err: unknown, what: string): TlsError {
  if (err instanceof TlsError) return err;
  return new TlsLocalError(`${what}: ${messageOf(err)}`, "internal_error", { cause: err });
}

/**
 * The error for an Alert record received from the server (RFC 8446 section 6). `during` says
 * what we were doing (`while waiting for ServerHello`); a hint is added where the alert has a
 * usual cause, unless the caller knows better (`hint`; "" for none).
 */
export function receivedAlertError(
  content: Uint8Array,
  during: string,
  hint?: string,
): TlsError {
  if (content.length !== 2) {
    return new TlsDecodeError(`Cannot decode alert: ${content.length} bytes, expected 2`);
  }
  const code = content[1];
  if (code === Alert.close_notify) {
    return new TlsAlertReceivedError(`Server closed the connection (close_notify) ${during}`, code);
  }
  const name = alertName(code);
  const why = hint ?? ALERT_HINTS[name];
  return new TlsAlertReceivedError(
    `Server sent alert "${name}" ${during}${why ? `: ${why}` : ""}`,
    code,
  );
}

const ALERT_HINTS: Record<string, string> = {
  protocol_version: "the server speaks none of the TLS versions we offered",
  handshake_failure:
    "the server found no common cipher suite, group or signature scheme, or refused our certificate",
  insufficient_security: "the server wants stronger parameters than we offered",
  certificate_required: "the server requires a client certificate",
  bad_certificate: "the server refused our client certificate",
  unknown_ca: "the server does not trust the issuer of our client certificate",
  certificate_expired: "the server says our client certificate has expired",
  certificate_unknown: "the server refused our client certificate",
  decrypt_error: "the server could not verify our signature or Finished",
  unrecognized_name: "the server does not know the server name we sent (SNI)",
  no_application_protocol: "the server supports none of our ALPN protocols",
};
