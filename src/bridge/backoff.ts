/**
 * Reconnect backoff for one side of the bridge (COMPAT.md section 3): start at the initial
 * interval, double per failed attempt, jitter of +-50%, never above the maximum, and back to
 * the start once a connection has stayed up for the reset window.
 */

export interface BackoffPolicy {
  /** First delay after a failure (`mqtt.bridge.reconnect_policy.initial_interval`). */
  readonly initialMs: number;
  /** Largest delay (`maximum_interval`). */
  readonly maximumMs: number;
  /** A connection that lasted this long resets the delay (`reset_window`). */
  readonly resetWindowMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 5_000,
  maximumMs: 600_000,
  resetWindowMs: 300_000,
};

export class Backoff {
  #failures = 0;
  #connectedAt: number | undefined;

  constructor(
    readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    /** Returns [0, 1); injectable for tests. */
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    if (!(policy.initialMs > 0) || !(policy.maximumMs >= policy.initialMs)) {
      throw new RangeError(
        `Invalid reconnect policy: initial ${policy.initialMs} ms, maximum ${policy.maximumMs} ms`,
      );
    }
  }

  /** Failed attempts since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    const { initialMs, maximumMs } = this.policy;
    const base = Math.min(initialMs * 2 ** Math.min(this.#failures, 40), maximumMs);
    this.#failures++;
    const jittered = base * (0.5 + this.random());
    return Math.round(Math.min(jittered, maximumMs));
  }

  /** A connection was established. */
  connected(): void {
    this.#connectedAt = this.now();
  }

  /** The connection was lost: reset when it had been up for the reset window. */
  disconnected(): void {
    if (
      this.#connectedAt !== undefined &&
      this.now() - this.#connectedAt >= this.policy.resetWindowMs
    ) {
      this.#failures = 0;
    }
    this.#connectedAt = undefined;
  }
}
