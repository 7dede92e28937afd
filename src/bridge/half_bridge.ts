/**
 * One direction of the bridge (local -> cloud or cloud -> local), with at-least-once delivery
 * for QoS 1:
 *
 *   source broker ──PUBLISH m──> accept() ──route──> queue ──PUBLISH──> target broker
 *                                                      │                    │
 *   source broker <──PUBACK m──── (queue decides when) ┴──── PUBACK ───────┘
 *
 * 1. A message arrives unacked (the connection holds its PUBACK). Unroutable, oversized and
 *    echoed messages are acked at once and dropped, with a log line saying why.
 * 2. It joins the queue (arrival order) and is published to the target as soon as the target
 *    is ready and the queue hands it out; many messages are in flight at once (`maxInFlight`).
 * 3. The queue acks the source: the memory queue when the target's PUBACK arrives, if the
 *    source connection that delivered it is still open (otherwise the broker redelivers it,
 *    persistent session, and it is forwarded again: a duplicate, never a loss); the outbox
 *    once the message is on disk.
 * 4. When the target connection drops, its unacknowledged messages are published again on
 *    the next target connection, in their original order.
 *
 * QoS 0 messages are forwarded untracked; while the target is down a bounded number wait.
 * No I/O here: the source, target and queue are small interfaces (links.ts).
 */
import type { Logger } from "../log.ts";
import { type Exit, InFlight } from "./in_flight.ts";
import {
  ackAtSource,
  type MessageQueue,
  type QueuedMessage,
  type SourceLink,
  type SourceMessage,
  type TargetLink,
} from "./links.ts";
import type { LoopBreaker } from "./loop_breaker.ts";
import { MemoryQueue } from "./memory_queue.ts";

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
   * (For the default memory queue.)
   */
  readonly sourceRedelivers: boolean;
  /** Where messages wait; default: in memory, acked at the source on the target's PUBACK. */
  readonly queue?: MessageQueue;
  /** Messages published to the target and awaiting its PUBACK at most. Default: no limit. */
  readonly maxInFlight?: number;
  /** Messages from the source that are echoes of what the other direction published. */
  readonly echoesFromSource?: LoopBreaker;
  /** Records what this direction publishes on topics the target sends back to us. */
  readonly echoesToTarget?: { breaker: LoopBreaker; echoes: (topic: string) => boolean };
  /** How many QoS 0 messages may wait for a target that is down. Default 1000. */
  readonly maxQueuedQos0?: number;
  /**
   * Flow control: `onChange(true)` once `high` messages are held, `onChange(false)` when
   * they are down to `low`. The source's in-flight window should bound them, but a broker
   * may exceed it (mosquitto 2.0 does while acks flow), and memory must stay bounded.
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

export class HalfBridge {
  readonly counters: HalfBridgeCounters = { forwarded: 0, dropped: 0, echoes: 0 };
  readonly #queue: MessageQueue;
  readonly #maxInFlight: number;
  #queuedQos0 = 0;
  #target: TargetLink | undefined;
  #accepting = true;
  /** QoS 1 messages published to the target and awaiting its PUBACK (step 3, 4). */
  readonly #inFlight = new InFlight<QueuedMessage>((message, exit, error) =>
    this.#settled(message, exit, error)
  );
  #pressured = false;

  constructor(readonly options: HalfBridgeOptions) {
    this.#queue = options.queue ?? new MemoryQueue(options.sourceRedelivers);
    // Messages became ready: the outbox committed some, so fewer are held unacked too.
    this.#queue.onReady = () => {
      this.#pump();
      this.#checkPressure();
    };
    this.#maxInFlight = options.maxInFlight ?? Infinity;
  }

  /** Messages received and not yet taken by the target (queued, in flight, stored). */
  get pending(): number {
    return this.#queue.size;
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
    const n = this.#queue.held;
    if (!this.#pressured && n >= p.high) {
      this.#pressured = true;
      this.options.log.debug(`Pausing the source (${this.options.name})`, { held: n });
      p.onChange(true);
    } else if (this.#pressured && n <= p.low) {
      this.#pressured = false;
      p.onChange(false);
    }
  }

  /** Step 1-2: a message from the source. */
  accept(message: SourceMessage, source: SourceLink): void {
    const { topic, payload, qos } = message;
    // Shutting down: QoS 1 stays unacked (the broker keeps it), QoS 0 is dropped.
    if (!this.#accepting) return;
    if (this.options.echoesFromSource?.isEcho(topic, payload)) {
      this.counters.echoes++;
      this.options.log.debug("Echo of a forwarded message not sent back", { topic });
      return ackAtSource(message, source);
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
    const routed = { topic: target, payload, qos, retain: message.retain };
    if (qos === 0) {
      // The target may have closed a moment before the side noticed (targetLost comes next).
      if (this.#target?.isOpen) return this.#sendQos0(routed, this.#target);
      if (this.#queuedQos0 >= (this.options.maxQueuedQos0 ?? 1000)) {
        return this.#drop(message, source, "QoS 0 queue is full while the target is down");
      }
      this.#queuedQos0++;
    }
    const refused = this.#queue.push({ ...routed, messageId: message.messageId }, source);
    if (refused !== undefined) return this.#drop(message, source, refused);
    this.#pump();
    this.#checkPressure();
  }

  /** Drops a message with a warning and acks it at its source. */
  #drop(message: SourceMessage, source: SourceLink, why: string): void {
    this.#dropped(message, why);
    ackAtSource(message, source);
  }

  #dropped(message: QueuedMessage, why: string): void {
    this.counters.dropped++;
    this.options.log.warn(`Message dropped (${this.options.name}): ${why}`, {
      topic: message.topic,
      qos: message.qos,
      bytes: message.payload.length,
    });
  }

  /** The target is connected and its subscription gate is open: send what waits. */
  targetReady(target: TargetLink): void {
    this.#target = target;
    this.#pump();
    this.#checkPressure();
  }

  /** Step 4: the target connection is gone; what it did not ack goes out again later. */
  targetLost(target: TargetLink): void {
    if (this.#target === target) this.#target = undefined;
    this.#inFlight.targetLost(target);
  }

  /** The source connection is gone: a persistent source will send its messages again. */
  sourceLost(source: SourceLink): void {
    this.#queue.sourceLost(source);
    this.#checkPressure();
  }

  /** Stops accepting messages and sending queued ones (shutdown): what is in flight goes on. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Stops waiting for the target's PUBACKs (shutdown, after `idle()` or its grace period):
   * what is still in flight stays unacked at its source (or in the outbox).
   */
  stop(): void {
    this.#accepting = false;
    this.#inFlight.stop();
  }

  /** Resolves once nothing is in flight to the target (pending PUBACKs all arrived). */
  idle(): Promise<void> {
    return this.#inFlight.idle();
  }

  /** Step 2: publishes what the queue hands out while the target and the window allow. */
  #pump(): void {
    const target = this.#target;
    if (!target?.isOpen || !this.#accepting) return;
    while (this.#inFlight.size < this.#maxInFlight && target.isOpen) {
      const message = this.#queue.next();
      if (!message) break;
      if (message.qos === 0) {
        this.#queuedQos0--;
        this.#sendQos0(message, target);
        this.#queue.done(message);
      } else {
        this.#expectEcho(message);
        const opts = PUBLISH_OPTIONS[1][message.retain ? 1 : 0];
        this.#inFlight.publish(message, target, message.topic, message.payload, opts);
      }
    }
  }

  /** Untracked: gone from our hands once written. */
  #sendQos0(message: QueuedMessage, target: TargetLink): void {
    this.#expectEcho(message);
    this.counters.forwarded++;
    target.publish(message.topic, message.payload, PUBLISH_OPTIONS[0][message.retain ? 1 : 0]);
  }

  #expectEcho(message: QueuedMessage): void {
    const echo = this.options.echoesToTarget;
    if (echo?.echoes(message.topic)) echo.breaker.expect(message.topic, message.payload);
  }

  /** Step 3 (or 4): a message left the in-flight set. */
  #settled(message: QueuedMessage, exit: Exit, error?: Error): void {
    switch (exit) {
      case "acked":
        this.counters.forwarded++;
        this.#queue.done(message);
        break;
      case "refused":
        this.#dropped(message, `target broker refused it: ${error?.message}`);
        this.#queue.done(message);
        break;
      case "lost": // sent again on the next target connection
        this.#queue.retry(message);
        return;
      case "stopped": // stays unacked at its source (or in the outbox)
        return;
    }
    this.#pump();
    this.#checkPressure();
  }
}
