/**
 * Error classes of the key providers. A `kind` of "configuration" or "credential" (src/errors.ts)
 * marks a problem that a restart cannot fix (exit 78; the systemd unit does not restart on it);
 * everything else (a token that is unplugged, a signature that timed out) exits 1.
 * No message ever contains a PIN: URIs are printed without their `pin-value`.
 */

import type { ErrorKind } from "../errors.ts";

/** A PKCS#11 return value: its CKR_ name and numeric code. */
export interface Rv {
  readonly name: string;
  readonly code: number;
}

export function formatRv(rv: Rv): string {
  return `${rv.name} (0x${rv.code.toString(16).padStart(8, "0")})`;
}

interface KeyErrorOptions {
  cause?: unknown;
  rv?: Rv;
}

/** A configuration or credential problem: bad key file, missing module, no such key. */
export class KeyConfigError extends Error {
  override name = "KeyConfigError";
  readonly kind: ErrorKind = "configuration";
  readonly rv?: Rv;

  constructor(message: string, opts: KeyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.rv = opts.rv;
  }
}

/** A key file that cannot be used (missing, encrypted, of a type we cannot sign with). */
export class KeyFileError extends KeyConfigError {
  override name = "KeyFileError";

  constructor(readonly path: string, detail: string, opts: KeyErrorOptions = {}) {
    super(`Cannot load private key file "${path}": ${detail}`, opts);
  }
}

/** The key's public half is not the public key in the device certificate. */
export class KeyMismatchError extends KeyConfigError {
  override name = "KeyMismatchError";
  override readonly kind = "credential";

  constructor(readonly key: string, readonly certificate: string, detail = "") {
    super(
      `Private key ${key} does not match the public key of certificate ${certificate}` +
        (detail ? `: ${detail}` : ""),
    );
  }
}

/**
 * A PKCS#11 call failed. It has a `kind` only when the failure is a configuration or credential
 * problem (exit 78); a device error or a lost token exits 1 so that the service is restarted.
 */
export class Pkcs11Error extends Error {
  override name = "Pkcs11Error";
  readonly rv?: Rv;
  /** The Cryptoki function that failed (`C_Login`), when one did. */
  readonly fn?: string;
  readonly kind?: ErrorKind;

  constructor(
    message: string,
    opts: KeyErrorOptions & { fn?: string; kind?: ErrorKind } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.rv = opts.rv;
    this.fn = opts.fn;
    this.kind = opts.kind;
  }
}

/** A wrong PIN. Never retried in the same process (tokens lock after a few tries). */
export class PinError extends Pkcs11Error {
  override name = "PinError";
  override readonly kind = "credential";

  constructor(message: string, readonly token: string, opts: KeyErrorOptions & { fn?: string }) {
    super(message, opts);
  }
}

/**
 * The token refuses every login for now (CKR_PIN_LOCKED, or CKF_USER_PIN_LOCKED): a TPM's
 * dictionary-attack lockout, which ends by itself, or a smart card PIN blocked until the SO PIN
 * unblocks it. Not a wrong PIN: the PIN may well be right, and a locked token refuses without
 * counting a try. Exit code 1: a later attempt may succeed (`run` retries at its backoff).
 */
export class PinLockedError extends Pkcs11Error {
  override name = "PinLockedError";

  constructor(message: string, readonly token: string, opts: KeyErrorOptions & { fn?: string }) {
    super(message, opts);
  }
}

/** No (matching) token is present: the device may be unplugged; a restart may help. */
export class TokenNotFoundError extends Pkcs11Error {
  override name = "TokenNotFoundError";
}

/** The token did not answer a signing request in time. */
export class SignTimeoutError extends Pkcs11Error {
  override name = "SignTimeoutError";
}
