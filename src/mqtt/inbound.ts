/**
 * The bridged messages' way in, past mqtt.js: QoS 0 and 1 PUBLISH packets, and the PUBACKs of
 * the PUBLISHes outbound.ts sent, are taken out of the bytes read from the broker and decoded
 * here; every other packet goes on to mqtt.js, whole and in order.
 *
 * mqtt.js parses through `bl` and mqtt-packet, one packet per tick, behind two Node streams: per
 * bridged message that was about 3.5 KB of the 7.7 KB the bridge allocated, and the larger part
 * of its MQTT work (bench/FINDINGS.md). A PUBLISH is simple to decode: fixed header, topic,
 * packet identifier, MQTT 5 properties, payload (MQTT 3.1.1 section 3.3, MQTT 5 section 3.3).
 *
 * Anything unusual goes to mqtt.js as before, which then decides (and closes the connection on a
 * malformed packet): QoS 2 or QoS 3, an empty topic, a topic alias, an unknown MQTT 5 property,
 * a length that does not add up. Such a PUBLISH may then reach the bridge after a later one that
 * was decoded here; a broker that follows our CONNECT never sends one.
 *
 * PUBLISH packets keep their order among themselves. Relative to the other packets (CONNACK,
 * SUBACK, PUBACK, PINGRESP) a PUBLISH decoded here may be handled earlier than mqtt.js handles a
 * packet that came just before it: nothing depends on that order (a persistent session's
 * messages already arrive before any SUBACK).
 */
import { Buffer } from "node:buffer";

/** A PUBLISH decoded here. */
export interface InboundPublish {
  topic: string;
  /** A view into the bytes read (they are not reused). */
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  dup: boolean;
  /** QoS 1 only. */
  messageId?: number;
}

const PUBLISH = 3;
const PUBACK = 4;
/** MQTT 5 property identifiers and the size of their values (section 2.2.2.2). */
const BYTE = 1, FOUR = 4, UTF8 = -1, BINARY = -2, VARINT = -3, PAIR = -4;
const PROPERTY_SIZE: Record<number, number> = {
  0x01: BYTE, // Payload Format Indicator
  0x02: FOUR, // Message Expiry Interval
  0x03: UTF8, // Content Type
  0x08: UTF8, // Response Topic
  0x09: BINARY, // Correlation Data
  0x0b: VARINT, // Subscription Identifier
  0x26: PAIR, // User Property
  // 0x23 Topic Alias is left to mqtt.js (we never allow one: no Topic Alias Maximum).
};

const decoder = new TextDecoder();

/**
 * Splits the broker's byte stream: `split(chunk)` delivers each whole QoS 0/1 PUBLISH to
 * `onPublish` and returns the bytes of the other whole packets (possibly empty) for mqtt.js.
 * A packet cut by the end of a chunk waits for the rest.
 */
export class InboundSplitter {
  #carry: Uint8Array | undefined;

  /**
   * `onPuback(messageId, reasonCode)` sees each PUBACK first and returns whether it was for a
   * PUBLISH of ours (outbound.ts); those not go on to mqtt.js.
   */
  constructor(
    private readonly v5: boolean,
    private readonly onPublish: (message: InboundPublish) => void,
    private readonly onPuback: (messageId: number, reasonCode: number) => boolean = () => false,
  ) {}

  split(chunk: Uint8Array): Uint8Array {
    let bytes = chunk;
    if (this.#carry) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
      this.#carry = undefined;
    }
    let passOn: Uint8Array[] | undefined;
    /** Start of the run of packets for mqtt.js not yet added to passOn. */
    let runFrom = 0;
    let at = 0;
    while (at < bytes.length) {
      if (!fixedHeader(bytes, at)) break; // the rest of this packet is still to come
      const bodyAt = headerEnd;
      const end = packetEnd;
      if (end > bytes.length) break;
      const type = bytes[at] >> 4;
      const message = type === PUBLISH ? this.#publish(bytes, at, bodyAt, end) : null;
      if (message || (type === PUBACK && this.#puback(bytes, at, bodyAt, end))) {
        if (at > runFrom) (passOn ??= []).push(bytes.subarray(runFrom, at));
        runFrom = end;
        if (message) this.onPublish(message);
      }
      at = end;
    }
    if (at < bytes.length) this.#carry = bytes.slice(at);
    if (at > runFrom) (passOn ??= []).push(bytes.subarray(runFrom, at));
    if (!passOn) return EMPTY;
    return passOn.length === 1 ? passOn[0] : Buffer.concat(passOn);
  }

  /**
   * A PUBACK (section 3.4): true when `onPuback` took it. MQTT 5: the Reason Code may be left
   * out for Success (section 3.4.2.1); properties are not read.
   */
  #puback(bytes: Uint8Array, at: number, bodyAt: number, end: number): boolean {
    if ((bytes[at] & 0x0f) !== 0 || end - bodyAt < 2) return false;
    if (!this.v5 && end - bodyAt !== 2) return false;
    const id = (bytes[bodyAt] << 8) | bytes[bodyAt + 1];
    const reasonCode = end - bodyAt > 2 ? bytes[bodyAt + 2] : 0;
    return this.onPuback(id, reasonCode);
  }

  /** Decodes the PUBLISH at bytes[at..end), or null to leave it to mqtt.js. */
  #publish(bytes: Uint8Array, at: number, bodyAt: number, end: number): InboundPublish | null {
    const flags = bytes[at] & 0x0f;
    const qos = (flags >> 1) & 3;
    if (qos > 1) return null;
    let p = bodyAt;
    if (p + 2 > end) return null;
    const topicLength = (bytes[p] << 8) | bytes[p + 1];
    p += 2;
    if (topicLength === 0 || p + topicLength > end) return null;
    const topicAt = p;
    p += topicLength;
    let messageId: number | undefined;
    if (qos === 1) {
      if (p + 2 > end) return null;
      messageId = (bytes[p] << 8) | bytes[p + 1];
      p += 2;
    }
    if (this.v5) {
      const length = varint(bytes, p, end);
      if (length < 0) return null;
      p = varintEnd;
      const propertiesEnd = p + length;
      if (propertiesEnd > end || !skipProperties(bytes, p, propertiesEnd)) return null;
      p = propertiesEnd;
    }
    return {
      topic: decoder.decode(bytes.subarray(topicAt, topicAt + topicLength)),
      payload: Buffer.from(bytes.buffer, bytes.byteOffset + p, end - p),
      qos: qos as 0 | 1,
      retain: (flags & 1) === 1,
      dup: (flags & 8) === 8,
      messageId,
    };
  }
}

const EMPTY = new Uint8Array(0);

// Results of fixedHeader() and varint() besides their return value (no object per packet).
let headerEnd = 0;
let packetEnd = 0;
let varintEnd = 0;

/**
 * Reads the fixed header at `at` into headerEnd (where the body starts) and packetEnd; false
 * when the Remaining Length is not all there yet. A Remaining Length longer than 4 bytes
 * (malformed) reads as a packet of the bytes at hand, for mqtt.js to refuse.
 */
function fixedHeader(bytes: Uint8Array, at: number): boolean {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const p = at + 1 + i;
    if (p >= bytes.length) return false;
    const b = bytes[p];
    value += (b & 0x7f) * 128 ** i;
    if ((b & 0x80) === 0) {
      headerEnd = p + 1;
      packetEnd = p + 1 + value;
      return true;
    }
  }
  headerEnd = at + 5;
  packetEnd = bytes.length;
  return true;
}

/** A Variable Byte Integer (MQTT 5 section 1.5.5) in [at, end), -1 if malformed; end: varintEnd. */
function varint(bytes: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let i = 0; i < 4 && at + i < end; i++) {
    const b = bytes[at + i];
    value += (b & 0x7f) * 128 ** i;
    if ((b & 0x80) === 0) {
      varintEnd = at + i + 1;
      return value;
    }
  }
  return -1;
}

/** Walks the properties in [at, end): true when each is one we know, with a whole value. */
function skipProperties(bytes: Uint8Array, at: number, end: number): boolean {
  let p = at;
  while (p < end) {
    const size = PROPERTY_SIZE[bytes[p++]];
    if (size === undefined) return false;
    if (size > 0) p += size;
    else if (size === VARINT) {
      if (varint(bytes, p, end) < 0) return false;
      p = varintEnd;
    } else {
      for (let strings = size === PAIR ? 2 : 1; strings > 0; strings--) {
        if (p + 2 > end) return false;
        p += 2 + ((bytes[p] << 8) | bytes[p + 1]);
      }
    }
  }
  return p === end;
}
