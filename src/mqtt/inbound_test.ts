import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { remainingLength } from "../../tests/helpers/mqtt_bytes.ts";
import { type InboundPublish, InboundSplitter } from "./inbound.ts";

const enc = new TextEncoder();

/** A PUBLISH (MQTT 3.1.1 / 5 section 3.3) built by hand: header byte, topic, id, properties. */
function publish(
  o: {
    topic: string;
    payload: string;
    qos?: number;
    id?: number;
    retain?: boolean;
    dup?: boolean;
    properties?: number[];
  },
): number[] {
  const t = [...enc.encode(o.topic)];
  const qos = o.qos ?? 0;
  const body = [
    t.length >> 8,
    t.length & 0xff,
    ...t,
    ...(qos > 0 ? [(o.id ?? 1) >> 8, (o.id ?? 1) & 0xff] : []),
    ...(o.properties ? [o.properties.length, ...o.properties] : []),
    ...enc.encode(o.payload),
  ];
  const flags = (o.dup ? 8 : 0) | (qos << 1) | (o.retain ? 1 : 0);
  return [0x30 | flags, ...remainingLength(body.length), ...body];
}

const CONNACK = [0x20, 2, 0, 0];
const PUBACK_7 = [0x40, 2, 0, 7];
const SUBACK = [0x90, 3, 0, 1, 1];

function run(v5: boolean, chunks: number[][]) {
  const got: InboundPublish[] = [];
  const passed: number[] = [];
  const s = new InboundSplitter(v5, (m) => got.push(m));
  for (const c of chunks) passed.push(...s.split(new Uint8Array(c)));
  const view = got.map((m) => ({
    topic: m.topic,
    payload: new TextDecoder().decode(m.payload),
    qos: m.qos,
    retain: m.retain,
    dup: m.dup,
    messageId: m.messageId,
  }));
  return { got: view, passed, raw: got };
}

Deno.test("InboundSplitter decodes QoS 0 and 1 PUBLISHes and passes every other packet on, in order", () => {
  const stream = [
    ...CONNACK,
    ...publish({ topic: "a/b", payload: "one", qos: 1, id: 7, retain: true }),
    ...PUBACK_7,
    ...publish({ topic: "c", payload: "", qos: 0 }),
    ...SUBACK,
    ...publish({ topic: "d", payload: "x".repeat(300), qos: 1, id: 0x1234, dup: true }),
  ];
  const expected = [
    { topic: "a/b", payload: "one", qos: 1, retain: true, dup: false, messageId: 7 },
    { topic: "c", payload: "", qos: 0, retain: false, dup: false, messageId: undefined },
    { topic: "d", payload: "x".repeat(300), qos: 1, retain: false, dup: true, messageId: 0x1234 },
  ];
  // In one chunk, and cut at every position into two.
  for (let cut = 0; cut <= stream.length; cut++) {
    const { got, passed } = run(false, [stream.slice(0, cut), stream.slice(cut)]);
    assert.deepEqual(got, expected, `cut at ${cut}`);
    assert.deepEqual(passed, [...CONNACK, ...PUBACK_7, ...SUBACK], `cut at ${cut}`);
  }
  // One byte at a time.
  const bytewise = run(false, stream.map((b) => [b]));
  assert.deepEqual(bytewise.got, expected);
  assert.deepEqual(bytewise.passed, [...CONNACK, ...PUBACK_7, ...SUBACK]);
});

Deno.test("InboundSplitter: the payload is a Buffer view of the bytes read, not a copy", () => {
  const chunk = new Uint8Array(publish({ topic: "t", payload: "abc", qos: 1, id: 1 }));
  let got!: InboundPublish;
  new InboundSplitter(false, (m) => got = m).split(chunk);
  assert.ok(Buffer.isBuffer(got.payload));
  assert.equal(got.payload.buffer, chunk.buffer);
  assert.equal(got.payload.toString(), "abc");
});

Deno.test("InboundSplitter skips MQTT 5 properties it knows (section 3.3.2.3)", () => {
  const properties = [
    0x01,
    1, // payload format indicator
    0x02,
    0,
    0,
    0,
    60, // message expiry interval
    0x03,
    0,
    4,
    ...enc.encode("text"), // content type
    0x08,
    0,
    1,
    0x72, // response topic "r"
    0x09,
    0,
    2,
    9,
    9, // correlation data
    0x0b,
    0x80,
    0x01, // subscription identifier 128 (two-byte varint)
    0x26,
    0,
    1,
    0x6b,
    0,
    1,
    0x76, // user property k=v
  ];
  const { got, passed } = run(true, [
    publish({ topic: "p", payload: "body", qos: 1, id: 3, properties }),
    publish({ topic: "q", payload: "none", qos: 0, properties: [] }),
  ]);
  assert.deepEqual(got.map((m) => [m.topic, m.payload, m.messageId]), [
    ["p", "body", 3],
    ["q", "none", undefined],
  ]);
  assert.deepEqual(passed, []);
});

Deno.test("InboundSplitter leaves the unusual to mqtt.js: QoS 2 and 3, empty topic, topic alias, unknown property, bad lengths", () => {
  const cases: [string, boolean, number[]][] = [
    ["QoS 2", false, publish({ topic: "t", payload: "x", qos: 2, id: 1 })],
    ["QoS 3", false, [0x36, 5, 0, 1, 0x74, 0, 1]],
    ["empty topic", false, publish({ topic: "", payload: "x", qos: 0 })],
    ["topic alias", true, publish({ topic: "t", payload: "x", properties: [0x23, 0, 1] })],
    ["unknown property", true, publish({ topic: "t", payload: "x", properties: [0x7f, 0] })],
    ["property past its length", true, publish({ topic: "t", payload: "", properties: [0x02, 0] })],
    ["topic longer than the packet", false, [0x30, 3, 0, 9, 0x74]],
    ["no room for the packet id", false, [0x32, 3, 0, 1, 0x74]],
  ];
  for (const [name, v5, packet] of cases) {
    const { got, passed } = run(v5, [[...packet, ...PUBACK_7]]);
    assert.deepEqual(got, [], name);
    assert.deepEqual(passed, [...packet, ...PUBACK_7], name);
  }
});

Deno.test("InboundSplitter: a Remaining Length of more than 4 bytes goes to mqtt.js with what follows", () => {
  const malformed = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 0x74];
  const { got, passed } = run(false, [[...publish({ topic: "a", payload: "1" }), ...malformed]]);
  assert.deepEqual(got.map((m) => m.topic), ["a"]);
  assert.deepEqual(passed, malformed);
});
