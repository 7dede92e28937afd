/**
 * The device key of `hsm-bridge run`, which must outlive a PIN lockout.
 *
 * 1. `RunKey.open` opens the key before anything connects, so that a configuration or
 *    credential error (a wrong PIN, a key that is not the certificate's) ends the process at
 *    once with exit 78, after one login.
 * 2. A locked PIN does not end it (a TPM's dictionary-attack lockout ends by itself, and a
 *    locked token does not count a try), nor does a tedge-p11-server that is down or
 *    restarting when `run` starts (socket mode): the bridge starts without the key, and each
 *    cloud connection attempt, at the reconnect backoff, tries to open it again (`key()`).
 * 3. While that lasts, each attempt fails with a ConnectBlockedError: the cause is logged
 *    once, and the bridge's health message says why it is down. A lockout met later, when the
 *    key logs in again after losing its token, is handled the same way.
 */
import { ConnectBlockedError } from "../bridge/mod.ts";
import { findError } from "../errors.ts";
import { getLogger } from "../log.ts";
import { type ClosableSigningKey, P11ConnectionError, PinLockedError } from "../keys/mod.ts";

const log = getLogger("run");

export class RunKey {
  #key: ClosableSigningKey | undefined;
  /** The lockout or the server outage being waited out, once logged. */
  #blockedBy: Error | undefined;

  private constructor(readonly opener: () => Promise<ClosableSigningKey>) {}

  /** Opens the key; throws any error but a locked PIN or an absent server (see step 2). */
  static async open(opener: () => Promise<ClosableSigningKey>): Promise<RunKey> {
    const runKey = new RunKey(opener);
    try {
      runKey.#key = await opener();
    } catch (e) {
      if (!(runKey.blocked(e) instanceof ConnectBlockedError)) throw e;
    }
    return runKey;
  }

  /** "PKCS#11 key ..." once open; until then, why it is not. */
  get description(): string {
    if (this.#key) return this.#key.description;
    return this.#blockedBy instanceof P11ConnectionError
      ? "(device key not open yet: tedge-p11-server does not answer)"
      : "(device key not open yet: its PIN is locked)";
  }

  /** The open key, opening it first if a lockout kept it closed. */
  async key(): Promise<ClosableSigningKey> {
    try {
      return this.#key ??= await this.opener();
    } catch (e) {
      throw this.blocked(e);
    }
  }

  /**
   * `e` as a ConnectBlockedError when a locked PIN or an unreachable tedge-p11-server caused it
   * (logged once), else `e`.
   */
  blocked(e: unknown): unknown {
    // Once the key is open, a server outage fails the handshake like any other: logged at
    // each retry by the bridge. Only a key that never opened waits quietly for its server.
    const cause = findError(e, PinLockedError) ??
      (this.#key ? undefined : findError(e, P11ConnectionError));
    if (!cause) return e;
    if (!this.#blockedBy) {
      log.error(
        cause instanceof PinLockedError
          ? `${cause.message}. hsm-bridge keeps running: health is down, and the login is ` +
            `tried again at each cloud reconnection until the lockout ends`
          : `${cause.message}. hsm-bridge keeps running: health is down, and the key is ` +
            `opened again at each cloud reconnection`,
      );
    }
    this.#blockedBy = cause;
    return new ConnectBlockedError(cause.message, { cause: e });
  }

  /** A cloud connection went up: a lockout or a server outage being waited out is over. */
  connected(): void {
    if (!this.#blockedBy) return;
    log.info(
      this.#blockedBy instanceof PinLockedError
        ? "PIN lockout over: logged in to the token again"
        : "tedge-p11-server answers again: device key open",
    );
    this.#blockedBy = undefined;
  }

  async close(): Promise<void> {
    await this.#key?.close();
  }
}
