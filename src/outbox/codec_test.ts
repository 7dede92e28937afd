import assert from "node:assert/strict";
import { decodeRecords, encodeRecords, encodeTopic, RecordError, recordSize } from "./codec.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function records(...ms: { topic: string; payload: string; retain: boolean }[]) {
  return encodeRecords(
    ms.map((m) => ({
      topicBytes: encodeTopic(m.topic),
      payload: enc(m.payload),
      retain: m.retain,
    })),
  );
}

Deno.test("encodeRecords() writes flags, topic and payload with big-endian lengths", () => {
  const bytes = records(
    { topic: "s/us", payload: "200", retain: false },
    { topic: "a", payload: "", retain: true },
  );
  assert.deepEqual(
    [...bytes],
    [
      0x00,
      0x00,
      0x04,
      ...enc("s/us"),
      0x00,
      0x00,
      0x00,
      0x03,
      ...enc("200"),
      0x01,
      0x00,
      0x01,
      ...enc("a"),
      0x00,
      0x00,
      0x00,
      0x00,
    ],
  );
  assert.equal(bytes.length, recordSize(enc("s/us"), enc("200")) + recordSize(enc("a"), enc("")));
});

Deno.test("decodeRecords() returns what encodeRecords() wrote, payloads as views", () => {
  const bytes = records(
    { topic: "measurement/measurements/create", payload: "x".repeat(300), retain: false },
    { topic: "inventory/managedObjects/update/ü", payload: "{}", retain: true },
  );
  const out = decodeRecords(bytes, 2);
  assert.deepEqual(out.map((m) => [m.topic, new TextDecoder().decode(m.payload), m.retain]), [
    ["measurement/measurements/create", "x".repeat(300), false],
    ["inventory/managedObjects/update/ü", "{}", true],
  ]);
  assert.equal(out[0].payload.buffer, bytes.buffer);
});

Deno.test("encodeRecords() writes into the given array when it is large enough", () => {
  const m = [{ topicBytes: encodeTopic("t"), payload: enc("abc"), retain: true }];
  const into = new Uint8Array(64).fill(0xee);
  const out = encodeRecords(m, into);
  assert.equal(out.buffer, into.buffer);
  assert.deepEqual([...out], [
    0x01,
    0x00,
    0x01,
    ...enc("t"),
    0x00,
    0x00,
    0x00,
    0x03,
    ...enc("abc"),
  ]);
  assert.equal(into[out.length], 0xee, "nothing written past the records");
  assert.notEqual(encodeRecords(m, new Uint8Array(4)).buffer.byteLength, 4, "too small: a new one");
});

Deno.test("decodeRecords() refuses damaged rows", () => {
  const good = records({ topic: "t", payload: "abc", retain: false });
  const cases: [string, Uint8Array, number, RegExp][] = [
    ["cut in the header", good.subarray(0, 2), 1, /record header cut short at byte 0/],
    ["cut in the payload", good.subarray(0, good.length - 1), 1, /payload cut short/],
    ["unknown flags", Uint8Array.of(0x02, ...good.subarray(1)), 1, /unknown flags 0x02/],
    ["wrong count", good, 2, /1 records where the row says 2/],
    ["topic not UTF-8", Uint8Array.of(0, 0, 1, 0xff, 0, 0, 0, 0), 1, /topic is not UTF-8/],
  ];
  for (const [what, bytes, count, message] of cases) {
    assert.throws(() => decodeRecords(bytes, count), (e) => {
      assert.ok(e instanceof RecordError, what);
      assert.match(e.message, message, what);
      return true;
    });
  }
});

Deno.test("encodeTopic() refuses a topic longer than MQTT allows", () => {
  assert.throws(() => encodeTopic("a".repeat(65_536)), /65536 bytes is longer than 65535/);
});
