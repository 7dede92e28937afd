/**
 * One direction of the bridge (local -> cloud or cloud -> local), with at-least-once delivery
 * for QoS 1:
 *
 *   source broker ──PUBLISH m──> accept() ──route──> pending ──PUBLISH──> target broker
 *                                                       │                      │
 *   source broker <──PUBACK m── source.ack() <──────────┴────── PUBACK ────────┘
 *
 * 1. A message arrives unacked (the connection holds its PUBACK). Unroutable, oversized and
 *    echoed messages are acked at once and dropped, with a log line saying why.
 * 2. It joins `pending` (arrival order) and is published to the target as soon as the target
 *    is ready; many messages are in flight at once, bounded by the source's in-flight window.
 * 3. The target's PUBACK acks the source message, if the source connection that delivered
 *    it is still open. Otherwise the broker redelivers it (persistent session) and it is
 *    forwarded again: a duplicate, never a loss.
 * 4. When the target connection drops, its unacknowledged messages are published again on
 *    the next target connection, in their original order.
 *
 * QoS 0 messages are forwarded untracked; while the target is down a bounded number wait.
 * No I/O here: the source and target are small interfaces (an MqttConnection fits both).
 */
import type { Logger } from "../log.ts";
import { type Exit, InFlight } from "./in_flight.ts";
import type { SourceLink, SourceMessage, TargetLink } from "./links.ts";
import type { LoopBreaker } from "./loop_breaker.ts";

export type { SourceLink, SourceMessage, TargetLink } from "./links.ts";

export interface HalfBridgeOptions {
  /** "local -> cloud" or "cloud -> local", for log lines. */
  readonly name: string;
  /** The target topic of a source topic, or undefined when no rule matches. */
  readonly route: (topic: string) => string | undefined;
  /** Larger payloads are dropped (c8y.mapper.mqtt.max_payload_size for cloud-bound). */
  readonly maxPayloadBytes?: number;
  /**
   * The source keeps unacked messages across reconnects (persistent session): messages from
   * a lost source connection that were not yet sent are dropped here, since they come again.
   */
  readonly sourceRedelivers: boolean;
  /** Messages from the source that are echoes of what the other direction published. */
  readonly echoesFromSource?: LoopBreaker;
  /** Records what this direction publishes on topics the target sends back to us. */
  readonly echoesToTarget?: { breaker: LoopBreaker; echoes: (topic: string) => boolean };
  /** How many QoS 0 messages may wait for a target that is down. Default 1000. */
  readonly maxQueuedQos0?: number;
  /**
   * Flow control: `onChange(true)` once `high` messages are pending, `onChange(false)` when
   * they are down to `low`. The source's in-flight window should bound `pending`, but a
   * broker may exceed it (mosquitto 2.0 does while acks flow), and memory must stay bounded.
   */
  readonly pressure?: { high: number; low: number; onChange(paused: boolean): void };
  readonly log: Logger;
}

export interface HalfBridgeCounters {
  forwarded: number;
  dropped: number;
  /** Echoes of our own messages (bidirectional rules), acked and not forwarded. */
  echoes: number;
}

/** Publish options by QoS and retain flag: shared, not one object per message. */
const PUBLISH_OPTIONS = [
  [{ qos: 0, retain: false }, { qos: 0, retain: true }],
  [{ qos: 1, retain: false }, { qos: 1, retain: true }],
] as const;

/** Acks a QoS 1 message at its source, if that connection is still open. */
function ackNow(message: SourceMessage, source: SourceLink): void {
  if (message.qos === 1 && message.messageId !== undefined && source.isOpen) {
    source.ack(message.messageId);
  }
}

interface Pending {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly source: SourceLink;
  readonly messageId?: number;
  /** A QoS 0 message counted against `maxQueuedQos0` while it waits. */
  readonly waitsQos0: boolean;
  /** Its key in `#pending`. */
  readonly seq: number;
}

export class HalfBridge {
  readonly counters: HalfBridgeCounters = { forwarded: 0, dropped: 0, echoes: 0 };
  #pending = new Map<number, Pending>();
  #seq = 0;
  #queuedQos0 = 0;
  #target: TargetLink | undefined;
  #accepting = true;
  /** QoS 1 messages published to the target and awaiting its PUBACK (step 3, 4). */
  readonly #inFlight = new InFlight<Pending>((entry, exit, error) =>
    this.#settled(entry, exit, error)
  );
  #pressured = false;

  constructor(readonly options: HalfBridgeOptions) {}

  /** Messages received and not yet acked by the target (queued or in flight). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Messages published to the target and awaiting its PUBACK. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Whether the source is asked to pause (see `pressure`). */
  get pressured(): boolean {
    return this.#pressured;
  }

  #checkPressure(): void {
    const p = this.options.pressure;
    if (!p) return;
    const n = this.#pending.size;
    if (!this.#pressured && n >= p.high) {
      this.#pressured = true;
      this.options.log.debug(`Pausing the source (${this.options.name})`, { pending: n });
      p.onChange(true);
    } else if (this.#pressured && n <= p.low) {
      this.#pressured = false;
      p.onChange(false);
    }
  }

  /** Step 1-2: a message from the source. */
  accept(message: SourceMessage, source: SourceLink): void {
    const { topic, payload, qos, messageId } = message;
    // Shutting down: QoS 1 stays unacked (the broker keeps it), QoS 0 is dropped.
    if (!this.#accepting) return;
    if (this.options.echoesFromSource?.isEcho(topic, payload)) {
      this.counters.echoes++;
      this.options.log.debug("Echo of a forwarded message not sent back", { topic });
      return ackNow(message, source);
    }
    const target = this.options.route(topic);
    if (target === undefined) {
      return this.#drop(message, source, "no bridge rule matches the topic");
    }
    const max = this.options.maxPayloadBytes;
    if (max !== undefined && payload.length > max) {
      return this.#drop(
        message,
        source,
        `payload of ${payload.length} bytes exceeds the maximum of ${max} bytes`,
      );
    }
    const waitsQos0 = qos === 0 && !this.#target?.isOpen;
    if (waitsQos0) {
      if (this.#queuedQos0 >= (this.options.maxQueuedQos0 ?? 1000)) {
        return this.#drop(message, source, "QoS 0 queue is full while the target is down");
      }
      this.#queuedQos0++;
    }
    const entry: Pending = {
      topic: target,
      payload,
      qos,
      retain: message.retain,
      source,
      messageId,
      waitsQos0,
      seq: this.#seq++,
    };
    this.#pending.set(entry.seq, entry);
    // The target may have closed a moment before the side noticed (targetLost comes next).
    if (this.#target?.isOpen) this.#send(entry, this.#target);
    this.#checkPressure();
  }

  /** Drops a message with a warning and acks it at its source. */
  #drop(message: SourceMessage, source: SourceLink, why: string): void {
    this.counters.dropped++;
    this.options.log.warn(`Message dropped (${this.options.name}): ${why}`, {
      topic: message.topic,
      qos: message.qos,
      bytes: message.payload.length,
    });
    ackNow(message, source);
  }

  /** The target is connected and its subscription gate is open: send what waits. */
  targetReady(target: TargetLink): void {
    this.#target = target;
    for (const [seq, entry] of this.#pending) {
      if (!target.isOpen) break;
      if (this.#inFlight.has(entry)) continue;
      if (this.#redelivered(entry)) {
        this.#pending.delete(seq);
        continue;
      }
      this.#send(entry, target);
    }
    this.#checkPressure();
  }

  /** Step 4: the target connection is gone; what it did not ack goes out again later. */
  targetLost(target: TargetLink): void {
    if (this.#target === target) this.#target = undefined;
    this.#inFlight.targetLost(target);
  }

  /** The source connection is gone: a persistent source will send its messages again. */
  sourceLost(source: SourceLink): void {
    if (!this.options.sourceRedelivers) return;
    for (const [seq, entry] of this.#pending) {
      if (entry.source === source && entry.qos === 1 && !this.#inFlight.has(entry)) {
        this.#pending.delete(seq);
      }
    }
    this.#checkPressure();
  }

  /** Stops accepting messages (shutdown). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Stops waiting for the target's PUBACKs (shutdown, after `idle()` or its grace period):
   * what is still in flight stays unacked at its source, which sends it again.
   */
  stop(): void {
    this.#accepting = false;
    this.#inFlight.stop();
  }

  /** Resolves once nothing is in flight to the target (pending PUBACKs all arrived). */
  idle(): Promise<void> {
    return this.#inFlight.idle();
  }

  /** Queued from a source connection that is gone and will redeliver: not worth sending. */
  #redelivered(entry: Pending): boolean {
    return this.options.sourceRedelivers && entry.qos === 1 && !entry.source.isOpen;
  }

  #send(entry: Pending, target: TargetLink): void {
    const echo = this.options.echoesToTarget;
    if (echo?.echoes(entry.topic)) echo.breaker.expect(entry.topic, entry.payload);
    const opts = PUBLISH_OPTIONS[entry.qos][entry.retain ? 1 : 0];
    if (entry.qos === 0) {
      // Untracked: gone from our hands once written.
      if (entry.waitsQos0) this.#queuedQos0--;
      this.#pending.delete(entry.seq);
      this.counters.forwarded++;
      target.publish(entry.topic, entry.payload, opts);
      return;
    }
    this.#inFlight.publish(entry, target, entry.topic, entry.payload, opts);
  }

  /** Step 3 (or 4): a message left the in-flight set. */
  #settled(entry: Pending, exit: Exit, error?: Error): void {
    switch (exit) {
      case "acked":
        this.#pending.delete(entry.seq);
        this.counters.forwarded++;
        ackNow(entry, entry.source);
        break;
      case "refused":
        this.#pending.delete(entry.seq);
        this.#drop(entry, entry.source, `target broker refused it: ${error?.message}`);
        break;
      case "lost": // still pending: sent again on the next target connection
      case "stopped": // still pending, unacked at its source
        return;
    }
    this.#checkPressure();
  }
}
