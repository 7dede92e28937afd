/**
 * What an established TLS 1.2 connection does differently from a TLS 1.3 one (RFC 5246):
 *
 * - Renegotiation is never performed. A HelloRequest (7.4.1.1) is the server asking for it:
 *   the first is declined with a no_renegotiation warning (7.2.2), later ones are ignored, and
 *   an alert that follows (OpenSSL answers the refusal with a fatal handshake_failure) says
 *   what happened. Any other handshake message after the handshake is unexpected.
 * - There is no KeyUpdate: AES-GCM keys, which may protect at most about 2^24 records (RFC 8446
 *   5.5, the limit TLS 1.3 rotates keys at), end the connection with close_notify at that
 *   limit, and the caller connects again (the bridge does so on its own).
 * - The server judged our certificate before its Finished, so a completed handshake means it
 *   accepted us.
 */

import { getLogger } from "../log.ts";
import type { AlertName } from "./alert.ts";
import type { CipherSuiteInfo } from "./cipher_suites.ts";
import {
  receivedAlertError,
  type TlsError,
  TlsLocalError,
  TlsPeerMisbehavedError,
} from "./errors.ts";
import {
  decodeEmptyMessage,
  type HandshakeMessage,
  HandshakeType,
  handshakeTypeName,
} from "./messages/mod.ts";

const log = getLogger("tls");

/** Records one set of AES-GCM keys may protect here (TLS 1.3 updates keys at this count). */
export const AES_GCM_RECORD_LIMIT = 2 ** 24;

export class Tls12Session {
  /** Records our keys may protect: AES-GCM's limit, or (ChaCha20) as many as we can count. */
  readonly recordLimit: number;
  #renegotiationDeclined = false;

  constructor(suite: CipherSuiteInfo, recordLimit = AES_GCM_RECORD_LIMIT) {
    this.recordLimit = suite.aead === "AES-GCM" ? recordLimit : Number.MAX_SAFE_INTEGER;
  }

  /**
   * A handshake message after the handshake: the alert to send for it (once: the warning that
   * declines renegotiation), or undefined; throws for anything but a HelloRequest.
   */
  handshakeMessage(m: HandshakeMessage): AlertName | undefined {
    if (m.type !== HandshakeType.hello_request) {
      throw new TlsPeerMisbehavedError(
        `Server sent ${handshakeTypeName(m.type)} after the handshake`,
        "unexpected_message",
      );
    }
    decodeEmptyMessage(m.body, "HelloRequest");
    if (this.#renegotiationDeclined) return undefined;
    this.#renegotiationDeclined = true;
    log.warn("Server asked to renegotiate TLS 1.2; declined (no_renegotiation)");
    return "no_renegotiation";
  }

  /** The error for an alert from the server, worded for what we last did. */
  alertError(content: Uint8Array): TlsError {
    return this.#renegotiationDeclined
      ? receivedAlertError(
        content,
        "after we declined its request to renegotiate (hsm-bridge never renegotiates TLS 1.2)",
        "",
      )
      : receivedAlertError(content, "after the handshake");
  }

  /** Throws (close_notify is then sent) when `records` more would pass the record limit. */
  checkRecords(sequence: number, records: number): void {
    if (sequence + records <= this.recordLimit) return;
    throw new TlsLocalError(
      `TLS 1.2 connection closed after ${sequence} records: its AES-GCM keys may protect no ` +
        "more (RFC 8446 5.5) and TLS 1.2 cannot change them; connect again",
      "close_notify",
    );
  }
}
