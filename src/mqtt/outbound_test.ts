import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { encodePublish, PacketIds, publishHeader } from "./outbound.ts";

// mqtt-packet (mqtt.js's codec) as the reference for the bytes.
const fromMqtt = createRequire(import.meta.resolve("mqtt"));
const mqttPacket = fromMqtt("mqtt-packet") as {
  generate(packet: Record<string, unknown>, opts?: { protocolVersion: number }): Buffer;
};

Deno.test("encodePublish() writes the bytes mqtt-packet writes (MQTT 3.1.1 and 5, QoS 0 and 1, every Remaining Length size)", () => {
  for (const v5 of [false, true]) {
    for (const qos of [0, 1] as const) {
      for (const size of [0, 1, 100, 121, 122, 4096, 16_380, 16_384, 2_097_150]) {
        for (const retain of [false, true]) {
          const payload = new Uint8Array(size).map((_, i) => i * 7);
          const topic = "c8y/measurement/measurements/create/äö";
          const messageId = qos === 1 ? 0xbeef : undefined;
          const ours = encodePublish(topic, payload, { qos, retain, messageId, v5 });
          const reference = mqttPacket.generate(
            {
              cmd: "publish",
              topic,
              payload: Buffer.from(payload),
              qos,
              retain,
              dup: false,
              messageId,
              ...(v5 ? { properties: {} } : {}),
            },
            { protocolVersion: v5 ? 5 : 4 },
          );
          assert.ok(
            Buffer.compare(ours, reference) === 0,
            `v5 ${v5} qos ${qos} size ${size} retain ${retain}`,
          );
          const header = publishHeader(topic, size, { qos, retain, messageId, v5 });
          assert.ok(
            Buffer.compare(Buffer.concat([header, payload]), reference) === 0,
            `header then payload: v5 ${v5} qos ${qos} size ${size}`,
          );
        }
      }
    }
  }
});

Deno.test("encodePublish() refuses what MQTT cannot carry", () => {
  const p = new Uint8Array(1);
  assert.throws(() => encodePublish("t", p, { qos: 1, retain: false, v5: false }), /identifier/);
  assert.throws(
    () => encodePublish("t", p, { qos: 1, retain: false, messageId: 0x10000, v5: false }),
    /identifier/,
  );
  assert.throws(
    () => encodePublish("x".repeat(0x10000), p, { qos: 0, retain: false, v5: false }),
    /at most 65535/,
  );
});

Deno.test("PacketIds hands out identifiers in use once, wraps after 65535, and skips those in use", () => {
  const ids = new PacketIds();
  assert.equal(ids.allocate(), 1);
  assert.equal(ids.allocate(), 2);
  assert.equal(ids.register(3), true);
  assert.equal(ids.register(3), false);
  assert.equal(ids.allocate(), 4, "3 is in use");
  ids.deallocate(1);
  for (let i = 5; i <= 0xffff; i++) assert.equal(ids.allocate(), i);
  assert.equal(ids.allocate(), 1, "wrapped to the one freed");
  assert.equal(ids.allocate(), null, "all 65535 in use");
  assert.equal(ids.getLastAllocated(), 1);
  ids.clear();
  assert.equal(ids.size, 0);
  assert.equal(ids.allocate(), 2);
});
