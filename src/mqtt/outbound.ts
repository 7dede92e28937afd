/**
 * The bridged messages' way out, past mqtt.js: PUBLISH packets encoded here in one buffer each
 * (MQTT 3.1.1 section 3.3, MQTT 5 section 3.3, no properties), with packet identifiers from one
 * allocator that mqtt.js shares for its own packets (SUBSCRIBE, UNSUBSCRIBE) through its
 * documented `messageIdProvider` option, so the two never use the same identifier at once.
 *
 * mqtt.js's publish went through its store, mqtt-packet's writer (a stream write per field,
 * corked, uncorked a tick later) and its PUBACK handler: the larger part of what the bridge
 * allocated per message after the inbound side (bench/FINDINGS.md).
 */
import { Buffer } from "node:buffer";

const encoder = new TextEncoder();

/**
 * One PUBLISH packet: fixed header (type 3, DUP 0, QoS, RETAIN), Remaining Length, topic, the
 * packet identifier for QoS 1, an empty MQTT 5 property list, the payload.
 */
export function encodePublish(
  topic: string,
  payload: Uint8Array,
  o: { qos: 0 | 1; retain: boolean; messageId?: number; v5: boolean },
): Buffer {
  return publishHeader(topic, payload.length, o, payload);
}

/**
 * The PUBLISH packet up to its payload (the payload then follows as it is), or with `payload`
 * given, the whole packet in one buffer.
 */
export function publishHeader(
  topic: string,
  payloadLength: number,
  o: { qos: 0 | 1; retain: boolean; messageId?: number; v5: boolean },
  payload?: Uint8Array,
): Buffer {
  const topicBytes = encoder.encode(topic);
  if (topicBytes.length > 0xffff) {
    throw new RangeError(`Topic of ${topicBytes.length} bytes: MQTT allows at most 65535`);
  }
  const id = o.messageId;
  if (o.qos === 1 && !(id !== undefined && Number.isInteger(id) && id >= 1 && id <= 0xffff)) {
    throw new RangeError(`Invalid packet identifier ${id}: expected 1 to 65535`);
  }
  const remaining = 2 + topicBytes.length + (o.qos === 1 ? 2 : 0) + (o.v5 ? 1 : 0) +
    payloadLength;
  if (remaining > MAX_REMAINING_LENGTH) {
    throw new RangeError(`PUBLISH of ${remaining} bytes: MQTT allows at most 268435455`);
  }
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const headerLength = 1 + lengthBytes + remaining - payloadLength;
  const out = Buffer.allocUnsafe(headerLength + (payload ? payloadLength : 0));
  out[0] = 0x30 | (o.qos << 1) | (o.retain ? 1 : 0);
  let at = 1;
  for (let n = remaining;;) {
    const digit = n % 128;
    n = Math.floor(n / 128);
    out[at++] = n > 0 ? digit | 0x80 : digit;
    if (n === 0) break;
  }
  out[at++] = topicBytes.length >> 8;
  out[at++] = topicBytes.length & 0xff;
  out.set(topicBytes, at);
  at += topicBytes.length;
  if (o.qos === 1) {
    out[at++] = id! >> 8;
    out[at++] = id! & 0xff;
  }
  if (o.v5) out[at++] = 0; // Property Length 0
  if (payload) out.set(payload, at);
  return out;
}

/** The largest Remaining Length, 4 bytes of 7 bits (MQTT 3.1.1 section 2.2.3). */
const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * Packet identifiers in use on one connection (MQTT 3.1.1 section 2.3.1: an identifier is
 * free again once its exchange is done). Shaped as mqtt.js's `IMessageIdProvider`.
 */
export class PacketIds {
  #next = 1;
  #last: number | null = null;
  readonly #inUse = new Set<number>();

  /** A free identifier, or null when all 65,535 are in use. */
  allocate(): number | null {
    for (let tries = 0; tries < 0xffff; tries++) {
      const id = this.#next;
      this.#next = id === 0xffff ? 1 : id + 1;
      if (!this.#inUse.has(id)) {
        this.#inUse.add(id);
        this.#last = id;
        return id;
      }
    }
    return null;
  }

  getLastAllocated(): number | null {
    return this.#last;
  }

  register(id: number): boolean {
    if (this.#inUse.has(id)) return false;
    this.#inUse.add(id);
    return true;
  }

  deallocate(id: number): void {
    this.#inUse.delete(id);
  }

  clear(): void {
    this.#inUse.clear();
  }

  get size(): number {
    return this.#inUse.size;
  }
}
