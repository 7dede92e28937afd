/**
 * Messages published to a target broker and awaiting its PUBACK: the in-flight set of one half
 * bridge, with one settle path for every way out of it.
 *
 *   publish() ──> in flight ──┬── acked    the target's PUBACK
 *                             ├── refused  an MQTT 5 target refused it (a reason code): dropped
 *                             ├── lost     the target connection is gone: to be sent again
 *                             └── stopped  the half bridge stopped waiting (shutdown)
 *
 * Each exit goes through `#settle()`, which removes the message, tells the owner (`onExit`) and
 * wakes `idle()` waiters once the set is empty. The count is the set's size, never a counter
 * kept by hand, so no exit can leave `idle()` hanging. An answer from a connection the message
 * was since settled away from (lost, then sent again on a new one) is ignored.
 */
import type { MqttPublishError } from "../mqtt/mod.ts";
import type { TargetLink } from "./links.ts";

/** How a message left the in-flight set. */
export type Exit = "acked" | "refused" | "lost" | "stopped";

export class InFlight<T extends object> {
  /** Each message and the target connection it awaits a PUBACK from, in publish order. */
  readonly #items = new Map<T, TargetLink>();
  #idleWaiters: (() => void)[] = [];

  constructor(
    /** Called once per exit, after the message left the set. */
    private readonly onExit: (item: T, exit: Exit, error?: Error) => void,
  ) {}

  /** Messages awaiting a PUBACK. */
  get size(): number {
    return this.#items.size;
  }

  has(item: T): boolean {
    return this.#items.has(item);
  }

  /** Publishes `item` (QoS 1) on `target` and tracks it until it exits. */
  publish(
    item: T,
    target: TargetLink,
    topic: string,
    payload: Uint8Array,
    opts: { qos: 0 | 1; retain: boolean },
  ): void {
    this.#items.set(item, target);
    target.publish(topic, payload, opts, (error) => this.#answered(item, target, error));
  }

  /** The target connection is gone: what it did not ack exits as lost, in publish order. */
  targetLost(target: TargetLink): void {
    for (const [item, on] of this.#items) {
      if (on === target) this.#settle(item, "lost");
    }
  }

  /** Stops waiting for every PUBACK (shutdown): each message exits as stopped. */
  stop(): void {
    for (const item of [...this.#items.keys()]) this.#settle(item, "stopped");
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.#items.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** The target answered (or the publish failed). */
  #answered(item: T, target: TargetLink, error?: MqttPublishError): void {
    if (this.#items.get(item) !== target) return; // settled already: a late answer
    if (!error) return this.#settle(item, "acked");
    // Connection loss: targetLost() settles it, and it is sent again.
    if (!target.isOpen || error.reason !== "refused") return;
    // An MQTT 5 broker refused this message (not authorized, quota ...): resending would
    // fail the same way forever.
    this.#settle(item, "refused", error);
  }

  /** The one way out of the set. */
  #settle(item: T, exit: Exit, error?: Error): void {
    if (!this.#items.delete(item)) return;
    this.onExit(item, exit, error);
    if (this.#items.size === 0 && this.#idleWaiters.length) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }
}
