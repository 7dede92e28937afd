/**
 * One side of the bridge (the local broker or the cloud): keeps a connection up, with its own
 * backoff, independent of the other side.
 *
 *   connect ──fail──> wait backoff ──> connect ...
 *      │ CONNACK
 *      v
 *   subscribe, wait for SUBACKs (the subscription gate: nothing is published to a broker
 *      │                         before it has our subscriptions)
 *      v
 *   up: onUp(conn) ... connection closes ... onDown(conn, reason) ──> wait backoff ──> connect
 */
import { MqttConnectError, type MqttConnection, type Subscription } from "../mqtt/mod.ts";
import { findError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Backoff } from "./backoff.ts";

/**
 * A connection attempt that could not even start, for a reason on the device's side of the
 * network (its key's PIN is locked): whoever throws it has logged why, so the side logs each
 * retry at debug level only, and the bridge's health message gives the reason.
 */
export class ConnectBlockedError extends Error {
  override name = "ConnectBlockedError";
}

/** The ConnectBlockedError in `e`'s cause chain, if any. */
export function connectBlocked(e: unknown): ConnectBlockedError | undefined {
  return findError(e, ConnectBlockedError);
}

export interface SideOptions {
  /** "local" or "cloud". */
  readonly name: string;
  /** Opens one connection (the caller wires its message handler). */
  readonly connect: (signal: AbortSignal) => Promise<MqttConnection>;
  readonly subscriptions: readonly Subscription[];
  readonly backoff: Backoff;
  readonly log: Logger;
  /** The connection is up and its subscription gate is open. */
  readonly onUp: (conn: MqttConnection) => void;
  /** The connection is gone (not called for a connection that never came up). */
  readonly onDown: (conn: MqttConnection, reason: string) => void;
}

export class Side {
  #conn: MqttConnection | undefined;
  #up = false;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Connections lost or attempts failed since start. */
  reconnects = 0;

  constructor(readonly options: SideOptions) {}

  /** The connection, while it is up (gate open). */
  get connection(): MqttConnection | undefined {
    return this.#up ? this.#conn : undefined;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops reconnecting; returns the open connection (if up) for the caller to end. A
   * connection still waiting for its SUBACKs is dropped here instead: nothing may be published
   * on it, not even a goodbye, and its last will tells the broker we are gone.
   */
  async stop(): Promise<MqttConnection | undefined> {
    this.#stop.abort();
    await this.#loop;
    const conn = this.#conn?.isOpen ? this.#conn : undefined;
    if (conn && !this.#up) {
      conn.destroy("stopped before the subscriptions were acknowledged");
      await conn.closed;
      return undefined;
    }
    this.#up = false;
    return conn;
  }

  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    const { name, log, backoff } = this.options;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      let conn: MqttConnection;
      try {
        conn = await this.options.connect(signal);
      } catch (e) {
        if (signal.aborted) return;
        this.reconnects++;
        const delay = backoff.next();
        log.log(
          connectBlocked(e) ? "debug" : "warn",
          `Cannot connect to the ${name} broker, retrying in ${seconds(delay)}`,
          { reason: e instanceof MqttConnectError ? e.detail : (e as Error).message },
        );
        await sleep(delay, signal);
        continue;
      }
      this.#conn = conn;
      backoff.connected();
      log.info(`Connected to the ${name} broker`, { session_present: conn.sessionPresent });
      if (await this.#openGate(conn, signal)) {
        this.#up = true;
        if (signal.aborted) return; // gate open: the caller ends the connection
        this.options.onUp(conn);
        const reason = await Promise.race([conn.closed, aborted(signal)]);
        if (reason === undefined) return; // stopping: the caller ends the connection
        this.#up = false;
        this.options.onDown(conn, reason);
        log.warn(`Disconnected from the ${name} broker`, { reason });
      } else {
        if (signal.aborted) return;
        log.warn(`Disconnected from the ${name} broker`, { reason: await conn.closed });
      }
      backoff.disconnected();
      this.reconnects++;
      if (signal.aborted) return;
      const delay = backoff.next();
      log.info(`Reconnecting to the ${name} broker in ${seconds(delay)}`);
      await sleep(delay, signal);
    }
  }

  /**
   * Subscribes and waits for the SUBACKs; false when the connection closed meanwhile or the
   * side is stopping (a broker that never answers must not hold up a stop).
   */
  async #openGate(conn: MqttConnection, signal: AbortSignal): Promise<boolean> {
    const subs = this.options.subscriptions;
    if (subs.length === 0) return true;
    try {
      const subscribed = conn.subscribe([...subs]);
      subscribed.catch(() => {}); // awaited below, unless the stop comes first
      const granted = await Promise.race([subscribed, aborted(signal)]);
      if (granted === undefined) return false;
      granted.forEach((qos, i) => {
        if (qos >= 0x80) {
          this.options.log.error(`The ${this.options.name} broker refused a subscription`, {
            filter: subs[i].filter,
            code: qos,
          });
        }
      });
      return conn.isOpen;
    } catch (e) {
      if (conn.isOpen) {
        this.options.log.error(`Subscribing on the ${this.options.name} broker failed`, {
          reason: (e as Error).message,
        });
        conn.destroy(`subscribe failed: ${(e as Error).message}`);
      }
      await conn.closed;
      return false;
    }
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}
