/**
 * What can go wrong between hsm-bridge and tedge-p11-server. Reaching the server and reading
 * its answer fail as P11ConnectionError (exit 1: the server may be restarting, and `run`
 * retries on its backoff); an Error frame is a P11ServerError; a server too old for a request
 * is a P11VersionError (a configuration error, exit 78: only an upgrade helps).
 */
import type { ErrorKind } from "../../errors.ts";

/** The server is down, restarting, silent or answered garbage. */
export class P11ConnectionError extends Error {
  override name = "P11ConnectionError";
}

/**
 * Texts of a refused PIN, from hsm-bridge p11-server (CKR_ names) and tedge-p11-server (the
 * cryptoki crate's descriptions of the same return values).
 */
const PIN_REFUSED =
  /CKR_PIN_(INCORRECT|LOCKED|INVALID|LEN_RANGE|EXPIRED)|Wrong PIN|PIN is incorrect|PIN (is|has been) locked|PIN has expired/;

/**
 * The server answered with an Error frame. A PIN it refused is a credential error (exit 78):
 * the bridge must stop, because tedge-p11-server would try the PIN again on every reconnect
 * and lock the token.
 */
export class P11ServerError extends Error {
  override name = "P11ServerError";
  readonly kind?: ErrorKind;

  constructor(message: string, readonly serverMessage: string) {
    super(message);
    if (PIN_REFUSED.test(serverMessage)) this.kind = "credential";
  }
}

/** The server does not know the request: it is older than the version that introduced it. */
export class P11VersionError extends Error {
  override name = "P11VersionError";
  readonly kind = "configuration";
}
