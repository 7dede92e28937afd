/** What a half bridge talks to: an MqttConnection fits both links. */
import type { MqttPublishError } from "../mqtt/mod.ts";

/** What a message came from: the connection that holds its PUBACK. */
export interface SourceLink {
  readonly isOpen: boolean;
  ack(messageId: number): void;
}

/** Where messages go. */
export interface TargetLink {
  readonly isOpen: boolean;
  publish(
    topic: string,
    payload: Uint8Array,
    opts: { qos: 0 | 1; retain: boolean },
    callback?: (error?: MqttPublishError) => void,
  ): void;
}

/** A message as received from the source. */
export interface SourceMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly messageId?: number;
}

/** Acks a QoS 1 message at its source, if that connection is still open. */
export function ackAtSource(message: SourceMessage, source: SourceLink): void {
  if (message.qos === 1 && message.messageId !== undefined && source.isOpen) {
    source.ack(message.messageId);
  }
}

/** A message on its way to the target: the target topic, as routed. */
export interface QueuedMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/**
 * Where a half bridge's messages wait for the target, and when their source is acked: in
 * memory until the target's PUBACK (memory_queue.ts), or on disk from the start (stored
 * queue, the outbox).
 */
export interface MessageQueue<M extends QueuedMessage = QueuedMessage> {
  /**
   * A routed message from `source`: QoS 1, or QoS 0 while the target is down. Returns why it
   * must be dropped instead (the caller logs, counts and acks it), or undefined.
   */
  push(message: QueuedMessage & { readonly messageId?: number }, source: SourceLink):
    | string
    | undefined;
  /** The next message to publish, oldest first; undefined when none is ready. */
  next(): M | undefined;
  /** The target took it (PUBACK, or an untracked QoS 0 write) or refused it: it leaves. */
  done(message: M): void;
  /** Its target connection was lost before the PUBACK: it goes out again before newer ones. */
  retry(message: M): void;
  /** `source` is gone: a persistent source sends what it did not get an ack for again. */
  sourceLost(source: SourceLink): void;
  /** Messages received and not yet done (queued, in flight, stored). */
  readonly size: number;
  /** Messages held in memory unacked at their source: what flow control bounds. */
  readonly held: number;
  /** Set by the half bridge: messages became ready to send (`next()`), or `held` fell. */
  onReady: () => void;
}

/**
 * Messages whose target connection was lost before their PUBACK: they go out again first, in
 * arrival order (`seq`), whatever order their losses were reported in (sorted when taken).
 */
export class ResendList<M extends { readonly seq: number }> {
  #messages: M[] = [];
  #sorted = true;

  get length(): number {
    return this.#messages.length;
  }

  push(message: M): void {
    const last = this.#messages.at(-1);
    if (last && last.seq > message.seq) this.#sorted = false;
    this.#messages.push(message);
  }

  /** The oldest message, or undefined. */
  shift(): M | undefined {
    if (!this.#sorted) {
      this.#messages.sort((a, b) => a.seq - b.seq);
      this.#sorted = true;
    }
    return this.#messages.shift();
  }

  /** Drops the messages `keep` refuses; returns how many. */
  keepOnly(keep: (message: M) => boolean): number {
    const before = this.#messages.length;
    this.#messages = this.#messages.filter(keep);
    return before - this.#messages.length;
  }
}
