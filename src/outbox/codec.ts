/**
 * The bytes of one outbox row: the messages of one group commit, back to back.
 *
 *   record = flags (1 byte: bit 0 RETAIN, the others 0)
 *            topic length (2 bytes, big endian) | topic (UTF-8)
 *            payload length (4 bytes, big endian) | payload
 *
 * One row per commit instead of one per message: SQLite's cost is per row (a 100 B message
 * cost 2.6 us to insert alone and 1 us to delete, as much as a third of what the bridge spends
 * on it), and a commit touches a few pages instead of a few per message. The lengths have the
 * widths MQTT gives them (a topic is at most 65,535 bytes, MQTT 3.1.1 section 1.5.3).
 */

/** A message as stored: the cloud topic, its payload and RETAIN flag (QoS is always 1). */
export interface StoredMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retain: boolean;
}

const RETAIN = 0x01;
/** flags + topic length + payload length. */
const RECORD_OVERHEAD = 1 + 2 + 4;
const MAX_TOPIC_BYTES = 0xFFFF;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of recent topics: a device publishes on a handful of topics, over and over. */
const topicBytes = new Map<string, Uint8Array>();
const TOPIC_CACHE_SIZE = 256;

export function encodeTopic(topic: string): Uint8Array {
  let bytes = topicBytes.get(topic);
  if (bytes) return bytes;
  bytes = encoder.encode(topic);
  if (bytes.length > MAX_TOPIC_BYTES) {
    throw new RangeError(`Topic of ${bytes.length} bytes is longer than 65535 bytes`);
  }
  if (topicBytes.size >= TOPIC_CACHE_SIZE) topicBytes.clear();
  topicBytes.set(topic, bytes);
  return bytes;
}

/** Bytes a message takes in a row. */
export function recordSize(topic: Uint8Array, payload: Uint8Array): number {
  return RECORD_OVERHEAD + topic.length + payload.length;
}

/**
 * The row bytes of `messages` (each with its topic already encoded), written at the start of
 * `into` when it is large enough (a view of it is returned), else into a new array.
 */
export function encodeRecords(
  messages: readonly { topicBytes: Uint8Array; payload: Uint8Array; retain: boolean }[],
  into?: Uint8Array,
): Uint8Array {
  let size = 0;
  for (const m of messages) size += recordSize(m.topicBytes, m.payload);
  const out = into && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  for (const m of messages) {
    out[at] = m.retain ? RETAIN : 0;
    view.setUint16(at + 1, m.topicBytes.length);
    out.set(m.topicBytes, at + 3);
    at += 3 + m.topicBytes.length;
    view.setUint32(at, m.payload.length);
    out.set(m.payload, at + 4);
    at += 4 + m.payload.length;
  }
  return out;
}

/** A row that does not decode: the file is damaged (or not ours). */
export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

/**
 * The messages of a row, expecting `count` of them. Payloads are views into `bytes`, not
 * copies.
 */
export function decodeRecords(bytes: Uint8Array, count: number): StoredMessage[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: StoredMessage[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 3 > bytes.length) throw new RecordError(`record header cut short at byte ${at}`);
    const flags = bytes[at];
    if (flags & ~RETAIN) throw new RecordError(`unknown flags 0x${hex(flags)} at byte ${at}`);
    const topicEnd = at + 3 + view.getUint16(at + 1);
    if (topicEnd + 4 > bytes.length) throw new RecordError(`topic cut short at byte ${at}`);
    const payloadEnd = topicEnd + 4 + view.getUint32(topicEnd);
    if (payloadEnd > bytes.length) throw new RecordError(`payload cut short at byte ${at}`);
    let topic: string;
    try {
      topic = decoder.decode(bytes.subarray(at + 3, topicEnd));
    } catch {
      throw new RecordError(`topic is not UTF-8 at byte ${at}`);
    }
    out.push({
      topic,
      payload: bytes.subarray(topicEnd + 4, payloadEnd),
      retain: (flags & RETAIN) !== 0,
    });
    at = payloadEnd;
  }
  if (out.length !== count) {
    throw new RecordError(`${out.length} records where the row says ${count}`);
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
