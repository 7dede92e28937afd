/**
 * TLS error classes. Each says whose fault the failure was (after rustls):
 *
 * | class                       | fault               | example                                   |
 * |-----------------------------|---------------------|-------------------------------------------|
 * | TlsDecodeError              | peer sent garbage   | a length field points past the message    |
 * | TlsPeerMisbehavedError      | peer broke the rules| a second HelloRetryRequest, bad Finished  |
 * | TlsPeerIncompatibleError    | no common ground    | TLS 1.2-only server, no common suite      |
 * | TlsCertificateError         | peer's certificate  | unknown CA, expired, wrong host name      |
 * | TlsAlertReceivedError       | peer gave up        | server sent "bad_certificate"             |
 * | TlsTimeoutError             | nobody (slowness)   | handshake took longer than 60 s           |
 * | TlsLocalError               | our side            | the token failed to sign                  |
 * | TlsClosedError              | caller              | write after close                         |
 *
 * `alert` is the alert we sent to the peer (for TlsAlertReceivedError: the one we received),
 * `cause` the underlying error. `code` is a stable string for stream consumers (mqtt.js drops
 * stream errors that carry no `.code`).
 */

import type { AlertName } from "./alert.ts";

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
  /** The alert sent to the peer, or for TlsAlertReceivedError the alert received. */
  readonly alert: string | undefined;

  constructor(message: string, alert: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.alert = alert;
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

/** The peer sent a fatal alert (or closed during the handshake). */
export class TlsAlertReceivedError extends TlsError {
  readonly fault = "alert-received";
  readonly code = "ERR_TLS_ALERT_RECEIVED";
  /** The alert's code point. */
  readonly alertCode: number;
  constructor(message: string, alert: string, alertCode: number) {
    super(message, alert);
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
 * A failure on our side: the signer (token) failed, or the socket broke. When the cause carries
 * an `exitCode` (a credential error from the key provider), it is kept so the CLI can use it.
 */
export class TlsLocalError extends TlsError {
  readonly fault = "local";
  readonly code: string;
  readonly exitCode: number | undefined;
  constructor(message: string, alert: AlertName | undefined, options?: ErrorOptions) {
    super(message, alert, options);
    const cause = options?.cause as { exitCode?: unknown; code?: unknown } | undefined;
    this.exitCode = typeof cause?.exitCode === "number" ? cause.exitCode : undefined;
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
