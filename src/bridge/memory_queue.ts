/**
 * The half bridge's queue in memory: a message is acked at its source once the target's
 * PUBACK arrived (at-least-once without a disk: the source broker keeps what we did not ack).
 * Used for cloud -> local, and for local -> cloud when the outbox is off.
 */
import {
  ackAtSource,
  type MessageQueue,
  type QueuedMessage,
  ResendList,
  type SourceLink,
} from "./links.ts";

export interface MemoryEntry extends QueuedMessage {
  readonly source: SourceLink;
  readonly messageId?: number;
  /** Arrival order. */
  readonly seq: number;
}

export class MemoryQueue implements MessageQueue<MemoryEntry> {
  /** Not yet sent, in arrival order (`#head` is the first). */
  #unsent: MemoryEntry[] = [];
  #head = 0;
  /** Sent on a connection that was lost: out again first, in arrival order. */
  readonly #resend = new ResendList<MemoryEntry>();
  #size = 0;
  #seq = 0;
  onReady: () => void = () => {};

  constructor(
    /**
     * The source keeps unacked messages across reconnects (persistent session): messages
     * from a lost source connection that were not yet sent are dropped here, since they come
     * again.
     */
    private readonly sourceRedelivers: boolean,
  ) {}

  get size(): number {
    return this.#size;
  }

  get held(): number {
    return this.#size;
  }

  push(message: QueuedMessage & { messageId?: number }, source: SourceLink): undefined {
    const { topic, payload, qos, retain, messageId } = message;
    this.#unsent.push({ topic, payload, qos, retain, messageId, source, seq: this.#seq++ });
    this.#size++;
    return undefined;
  }

  next(): MemoryEntry | undefined {
    for (;;) {
      const entry = this.#resend.shift() ?? this.#takeUnsent();
      if (!entry) return undefined;
      // From a source connection that is gone and will redeliver it: not worth sending.
      if (this.sourceRedelivers && entry.qos === 1 && !entry.source.isOpen) {
        this.#size--;
        continue;
      }
      return entry;
    }
  }

  done(entry: MemoryEntry): void {
    this.#size--;
    ackAtSource(entry, entry.source);
  }

  retry(entry: MemoryEntry): void {
    this.#resend.push(entry);
  }

  sourceLost(source: SourceLink): void {
    if (!this.sourceRedelivers) return;
    const keep = (e: MemoryEntry) => e.source !== source || e.qos !== 1;
    const unsent = this.#unsent.slice(this.#head).filter(keep);
    this.#size -= this.#unsent.length - this.#head - unsent.length + this.#resend.keepOnly(keep);
    this.#unsent = unsent;
    this.#head = 0;
  }

  #takeUnsent(): MemoryEntry | undefined {
    if (this.#head === this.#unsent.length) return undefined;
    const entry = this.#unsent[this.#head];
    this.#unsent[this.#head++] = undefined as unknown as MemoryEntry;
    if (this.#head > 1024 && this.#head * 2 > this.#unsent.length) {
      this.#unsent = this.#unsent.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
}
