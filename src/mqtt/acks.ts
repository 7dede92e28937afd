/**
 * PUBACKs of held QoS 1 messages, written in batches.
 *
 * The bridge acks a source message when the target broker's PUBACK arrives. mqtt.js handles
 * the target's packets one per tick, so a burst of N target PUBACKs used to produce N source
 * PUBACKs, each encoded by mqtt-packet in two stream writes, and often N socket writes (N TLS
 * records towards the cloud). Here the message ids are collected and written once per
 * event-loop turn (`setImmediate`, after the turn's I/O callbacks and ticks): one buffer, one
 * stream write, one socket write.
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

/** PUBACK fixed header: packet type 4, flags 0 (MQTT 3.1.1 section 3.4.1, MQTT 5 3.4.1). */
const PUBACK = 0x40;

/**
 * PUBACK packets for `ids`, back to back, 4 bytes each: the fixed header, Remaining Length 2
 * and the Packet Identifier (MQTT 3.1.1 section 3.4). The same bytes are a success PUBACK in
 * MQTT 5: "the Reason Code and Property Length can be omitted if the Reason Code is 0x00
 * (Success) and there are no Properties" (MQTT 5 section 3.4.2.1).
 */
export function encodePubacks(ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(4 * ids.length);
  for (let i = 0, at = 0; i < ids.length; i++, at += 4) {
    const id = ids[i];
    if (!isPacketId(id)) {
      throw new RangeError(`Invalid PUBACK packet identifier ${id}: expected 1 to 65535`);
    }
    out[at] = PUBACK;
    out[at + 1] = 2;
    out[at + 2] = id >> 8;
    out[at + 3] = id & 0xFF;
  }
  return out;
}

/** A Packet Identifier is a non-zero 16-bit integer (MQTT 3.1.1 section 2.3.1). */
function isPacketId(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= 0xFFFF;
}

/** Collects message ids and hands their PUBACKs to `write` once per event-loop turn. */
export class AckBatcher {
  #ids: number[] = [];
  #scheduled = false;
  readonly #write: (bytes: Buffer) => void;
  readonly #flushSoon = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(write: (bytes: Buffer) => void) {
    this.#write = write;
  }

  /** PUBACKs waiting for the next flush. */
  get queued(): number {
    return this.#ids.length;
  }

  /** Queues a PUBACK. An invalid id (a broker's protocol error) gets none. */
  add(messageId: number): void {
    if (!isPacketId(messageId)) return;
    this.#ids.push(messageId);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
  }

  /** Writes what is queued now (before a DISCONNECT, say). */
  flush(): void {
    if (this.#ids.length === 0) return;
    const bytes = encodePubacks(this.#ids);
    this.#ids.length = 0;
    this.#write(bytes);
  }

  /** Forgets what is queued (the connection is gone: the broker redelivers those messages). */
  clear(): void {
    this.#ids.length = 0;
  }
}
