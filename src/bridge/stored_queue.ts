/**
 * The local -> cloud queue on the outbox (store and forward): a QoS 1 message is acked to the
 * local broker once it is safe (on disk, or acked by the cloud), and leaves the outbox on the
 * cloud's PUBACK.
 *
 *   local ──PUBLISH m──> push() ──append──> outbox ──commit──> PUBACK m to local
 *                                             │                  ^ (or sooner:)
 *   cloud <──PUBLISH m── next() <─────────────┘     cloud PUBACK ──> done(): removed
 *
 * 1. Nothing is acked locally before its commit returned or the cloud acked it (and all
 *    before it), in order. (A message whose local connection closed before that is stored all
 *    the same, and the broker sends it again: a duplicate.)
 * 2. The cloud gets messages in outbox order, without waiting for their commit; after a lost
 *    cloud connection, what it did not ack goes out again first. The outbox resumes after the
 *    last acked message on a restart.
 * 3. Outbox full: messages wait here unacked, in order (the local broker keeps the rest: back
 *    pressure, as without the outbox), and are appended as the cloud's acks make room. Both
 *    moments are logged; nothing is dropped.
 * 4. QoS 0 messages are not stored: while the cloud is down a bounded number wait in memory.
 */
import type { Logger } from "../log.ts";
import type { Outbox, OutboxMessage } from "../outbox/mod.ts";
import {
  ackAtSource,
  type MessageQueue,
  type QueuedMessage,
  ResendList,
  type SourceLink,
} from "./links.ts";

type Incoming = QueuedMessage & { readonly messageId?: number };

export class StoredQueue implements MessageQueue<QueuedMessage> {
  /** Step 3: QoS 1 messages waiting for room, unacked, in arrival order. */
  #held: { message: Incoming; source: SourceLink }[] = [];
  #fullSince: number | undefined;
  /** Step 4. */
  #qos0: QueuedMessage[] = [];
  /** Step 2: sent on a cloud connection that was lost; out again first, in seq order. */
  readonly #resend = new ResendList<OutboxMessage>();
  onReady: () => void = () => {};

  constructor(readonly outbox: Outbox, private readonly log: Logger) {
    outbox.onCommit = () => this.onReady();
    outbox.onRoom = () => this.#appendHeld();
  }

  get size(): number {
    return this.#held.length + this.#qos0.length + this.outbox.pending;
  }

  get held(): number {
    return this.#held.length + this.#qos0.length + this.outbox.unsafe;
  }

  /** Messages waiting for room in a full outbox. */
  get waitingForRoom(): number {
    return this.#held.length;
  }

  push(message: Incoming, source: SourceLink): string | undefined {
    if (message.qos === 0) {
      this.#qos0.push(message);
      return undefined;
    }
    if (!this.outbox.fits(message.topic, message.payload)) {
      return `larger than the whole outbox (${this.outbox.maxBytes} bytes)`;
    }
    if (!this.#held.length && this.#append(message, source)) {
      this.#roomAgain();
    } else {
      this.#held.push({ message, source });
    }
    return undefined;
  }

  next(): QueuedMessage | undefined {
    if (this.#qos0.length) return this.#qos0.shift();
    return this.#resend.shift() ?? this.outbox.next();
  }

  done(message: QueuedMessage): void {
    if (message.qos === 1) this.outbox.remove((message as OutboxMessage).seq);
  }

  retry(message: QueuedMessage): void {
    this.#resend.push(message as OutboxMessage);
  }

  /** Step 3: what the closed connection delivered and is held unacked comes again. */
  sourceLost(source: SourceLink): void {
    this.#held = this.#held.filter((h) => h.source !== source);
  }

  /** Appends; false when the outbox is full (logged when it becomes so). */
  #append(message: Incoming, source: SourceLink): boolean {
    const r = this.outbox.append(
      message.topic,
      message.payload,
      message.retain,
      () => ackAtSource(message, source),
    );
    if (r === "queued") return true;
    if (this.#fullSince === undefined) {
      this.#fullSince = Date.now();
      const s = this.outbox.stats();
      this.log.warn(
        "Outbox full: messages from the local broker are not acknowledged until the cloud " +
          "takes some (the local broker keeps them)",
        { messages: s.depth, bytes: s.bytes, max_bytes: s.maxBytes },
      );
    }
    return false;
  }

  /** Step 3: room came back. */
  #appendHeld(): void {
    while (this.#held.length) {
      const { message, source } = this.#held[0];
      if (!this.#append(message, source)) return;
      this.#held.shift();
    }
    this.#roomAgain();
  }

  #roomAgain(): void {
    if (this.#fullSince === undefined) return;
    this.log.info("Outbox has room again: acknowledging messages from the local broker", {
      full_for_s: Math.round((Date.now() - this.#fullSince) / 100) / 10,
    });
    this.#fullSince = undefined;
  }
}
