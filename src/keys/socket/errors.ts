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
 * cryptoki crate's descriptions of the same return values). The Error frame's text is all the
 * protocol carries, so these are read from it.
 */
const PIN_REFUSED =
  /CKR_PIN_(INCORRECT|INVALID|LEN_RANGE|EXPIRED)|Wrong PIN|PIN is incorrect|PIN has expired/;
/** Texts of a locked PIN: not a refused one (a locked token counts no try; see below). */
const PIN_LOCKED = /CKR_PIN_LOCKED|PIN (is|has been) locked|PIN locked/;

/**
 * The server answered with an Error frame. A PIN it refused is a credential error (exit 78):
 * the bridge must stop, because tedge-p11-server would try the PIN again on every reconnect
 * and lock the token. A locked PIN is not (`pinLocked`): the client raises a PinLockedError
 * for it, which `run` waits out at its backoff, as in module mode.
 */
export class P11ServerError extends Error {
  override name = "P11ServerError";
  readonly kind?: ErrorKind;
  readonly pinLocked: boolean;

  constructor(message: string, readonly serverMessage: string) {
    super(message);
    this.pinLocked = PIN_LOCKED.test(serverMessage);
    if (!this.pinLocked && PIN_REFUSED.test(serverMessage)) this.kind = "credential";
  }
}

/** The server does not know the request: it is older than the version that introduced it. */
export class P11VersionError extends Error {
  override name = "P11VersionError";
  readonly kind = "configuration";
}
