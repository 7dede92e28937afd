/**
 * The loop breaker for bidirectional rules. A message the bridge publishes to a broker on a
 * topic it also subscribes to there comes straight back; without this, it would be forwarded
 * to the other side again, and so on forever:
 *
 *   local c8y/x ─> bridge ─> cloud x ─(echo of our own publish)─> bridge ─> local c8y/x ─> ...
 *
 * 1. Before publishing to a broker on a topic the bridge subscribes to there, `expect()` it.
 * 2. When a message arrives from that broker, `isEcho()` consumes a matching expectation
 *    (same topic and payload) and tells the caller to ack and drop it.
 *
 * Expectations expire (the broker may never echo, for example when its ACL denies the
 * subscription) and their number is capped, so memory stays bounded. The local side does not
 * need this: MQTT 5's No Local subscription option already keeps our own messages from us.
 */

interface Expectation {
  readonly payload: Uint8Array;
  readonly expires: number;
}

export class LoopBreaker {
  #byTopic = new Map<string, Expectation[]>();
  #size = 0;

  constructor(
    readonly ttlMs = 300_000,
    readonly capacity = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many echoes are expected. */
  get size(): number {
    return this.#size;
  }

  /** Remembers that a message we publish on `topic` will come back. */
  expect(topic: string, payload: Uint8Array): void {
    if (this.#size >= this.capacity) this.#evict();
    const list = this.#byTopic.get(topic);
    const entry = { payload, expires: this.now() + this.ttlMs };
    if (list) list.push(entry);
    else this.#byTopic.set(topic, [entry]);
    this.#size++;
  }

  /** Whether this incoming message is the echo of one we published; consumes the match. */
  isEcho(topic: string, payload: Uint8Array): boolean {
    const list = this.#byTopic.get(topic);
    if (!list) return false;
    const now = this.now();
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.expires < now) continue;
      if (equalBytes(e.payload, payload)) {
        list.splice(i, 1);
        this.#size--;
        if (list.length === 0) this.#byTopic.delete(topic);
        return true;
      }
    }
    return false;
  }

  /** Drops expired entries; when none expired, the oldest entries of the first topic. */
  #evict(): void {
    const now = this.now();
    for (const [topic, list] of this.#byTopic) {
      const kept = list.filter((e) => e.expires >= now);
      this.#size -= list.length - kept.length;
      if (kept.length) this.#byTopic.set(topic, kept);
      else this.#byTopic.delete(topic);
    }
    if (this.#size < this.capacity) return;
    const [topic, list] = this.#byTopic.entries().next().value!;
    const drop = Math.max(1, Math.ceil(list.length / 2));
    list.splice(0, drop);
    this.#size -= drop;
    if (list.length === 0) this.#byTopic.delete(topic);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
