/**
 * The device key of `hsm-bridge run`, which must outlive a PIN lockout.
 *
 * 1. `RunKey.open` opens the key before anything connects, so that a configuration or
 *    credential error (a wrong PIN, a key that is not the certificate's) ends the process at
 *    once with exit 78, after one login.
 * 2. A locked PIN does not end it (a TPM's dictionary-attack lockout ends by itself, and a
 *    locked token does not count a try): the bridge starts without the key, and each cloud
 *    connection attempt, at the reconnect backoff, tries the login again (`key()`).
 * 3. While the PIN stays locked, each attempt fails with a ConnectBlockedError: the lockout is
 *    logged once, and the bridge's health message says why it is down. A lockout met later,
 *    when the key logs in again after losing its token, is handled the same way.
 */
import { ConnectBlockedError } from "../bridge/mod.ts";
import { findError } from "../errors.ts";
import { getLogger } from "../log.ts";
import { type ClosableSigningKey, PinLockedError } from "../keys/mod.ts";

const log = getLogger("run");

export class RunKey {
  #key: ClosableSigningKey | undefined;
  /** The lockout being waited out, once logged. */
  #locked: PinLockedError | undefined;

  private constructor(readonly opener: () => Promise<ClosableSigningKey>) {}

  /** Opens the key; throws any error but a locked PIN (see step 2). */
  static async open(opener: () => Promise<ClosableSigningKey>): Promise<RunKey> {
    const runKey = new RunKey(opener);
    try {
      runKey.#key = await opener();
    } catch (e) {
      if (!findError(e, PinLockedError)) throw e;
      runKey.blocked(e);
    }
    return runKey;
  }

  /** "PKCS#11 key ..." once open; until then, why it is not. */
  get description(): string {
    return this.#key?.description ?? "(device key not open yet: its PIN is locked)";
  }

  /** The open key, opening it first if a lockout kept it closed. */
  async key(): Promise<ClosableSigningKey> {
    try {
      return this.#key ??= await this.opener();
    } catch (e) {
      throw this.blocked(e);
    }
  }

  /** `e` as a ConnectBlockedError when a locked PIN caused it (logged once), else `e`. */
  blocked(e: unknown): unknown {
    const locked = findError(e, PinLockedError);
    if (!locked) return e;
    if (!this.#locked) {
      log.error(
        `${locked.message}. hsm-bridge keeps running: health is down, and the login is tried ` +
          `again at each cloud reconnection until the lockout ends`,
      );
    }
    this.#locked = locked;
    return new ConnectBlockedError(locked.message, { cause: e });
  }

  /** A cloud connection went up: a lockout being waited out is over. */
  connected(): void {
    if (!this.#locked) return;
    this.#locked = undefined;
    log.info("PIN lockout over: logged in to the token again");
  }

  async close(): Promise<void> {
    await this.#key?.close();
  }
}
