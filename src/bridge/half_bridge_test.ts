import assert from "node:assert/strict";
import { MqttPublishError } from "../mqtt/mod.ts";
import { getLogger } from "../log.ts";
import { HalfBridge, type HalfBridgeOptions } from "./half_bridge.ts";
import { FakeSource, FakeTarget } from "./_fake_links.ts";
import { LoopBreaker } from "./loop_breaker.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const silent = getLogger("test");

function half(extra: Partial<HalfBridgeOptions> = {}) {
  return new HalfBridge({
    name: "local -> cloud",
    route: (t) => t.startsWith("c8y/") ? t.slice(4) : undefined,
    sourceRedelivers: true,
    maxPayloadBytes: 10,
    log: silent,
    ...extra,
  });
}

const msg = (topic: string, payload: string, messageId?: number, qos: 0 | 1 = 1) => ({
  topic,
  payload: enc(payload),
  qos,
  retain: false,
  messageId,
});

Deno.test("HalfBridge acks the source only after the target's PUBACK", () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  h.accept(msg("c8y/s/us", "a", 1), src);
  h.accept({ ...msg("c8y/s/us", "b", 2), retain: true }, src);
  assert.deepEqual(dst.sent.map((s) => [s.topic, s.payload, s.qos, s.retain]), [
    ["s/us", "a", 1, false],
    ["s/us", "b", 1, true],
  ]);
  assert.deepEqual(src.acks, [], "no ack before the PUBACK");
  assert.equal(h.inFlight, 2);
  dst.ackAll();
  assert.deepEqual(src.acks, [1, 2]);
  assert.equal(h.pending, 0);
  assert.equal(h.counters.forwarded, 2);
});

Deno.test("HalfBridge acks and drops unroutable and oversized messages", () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  h.accept(msg("other/topic", "x", 7), src);
  h.accept(msg("c8y/s/us", "01234567890", 8), src);
  h.accept(msg("c8y/s/us", "0123456789", 9), src); // exactly the maximum: forwarded
  assert.deepEqual(src.acks, [7, 8]);
  assert.equal(h.counters.dropped, 2);
  assert.equal(dst.sent.length, 1);
});

Deno.test("HalfBridge keeps messages while the target is down and sends them in order", () => {
  const h = half();
  const src = new FakeSource();
  for (let i = 1; i <= 3; i++) h.accept(msg("c8y/x", `m${i}`, i), src);
  assert.equal(h.pending, 3);
  assert.deepEqual(src.acks, []);
  const dst = new FakeTarget();
  h.targetReady(dst);
  assert.deepEqual(dst.sent.map((s) => s.payload), ["m1", "m2", "m3"]);
  dst.ackAll();
  assert.deepEqual(src.acks, [1, 2, 3]);
});

Deno.test("HalfBridge republishes what a lost target did not ack, ignoring late callbacks", () => {
  const h = half();
  const src = new FakeSource();
  const first = new FakeTarget();
  h.targetReady(first);
  h.accept(msg("c8y/x", "m1", 1), src);
  h.accept(msg("c8y/x", "m2", 2), src);
  first.sent[0].callback!(); // m1 acked
  const late = first.sent[1].callback!;
  first.isOpen = false;
  h.targetLost(first);
  assert.equal(h.inFlight, 0);
  h.accept(msg("c8y/x", "m3", 3), src); // arrives while the target is down
  // A callback from the dead connection: ignored.
  late(new MqttPublishError("Connection closed", { reason: "connection-lost" }));
  const second = new FakeTarget();
  h.targetReady(second);
  assert.deepEqual(second.sent.map((s) => s.payload), ["m2", "m3"]);
  second.ackAll();
  assert.deepEqual(src.acks, [1, 2, 3]);
  assert.equal(h.pending, 0);
});

Deno.test("HalfBridge drops unsent messages of a lost persistent source (they come again)", () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  h.accept(msg("c8y/x", "sent", 1), src);
  h.targetLost(dst);
  h.accept(msg("c8y/x", "queued", 2), src);
  src.isOpen = false;
  h.sourceLost(src);
  const next = new FakeTarget();
  h.targetReady(next);
  assert.deepEqual(next.sent.map((s) => s.payload), [], "both come again from the broker");
  assert.equal(h.pending, 0);
});

Deno.test("HalfBridge still forwards messages of a lost clean-session source", () => {
  const h = half({ sourceRedelivers: false, name: "cloud -> local" });
  const src = new FakeSource();
  h.accept(msg("c8y/x", "m1", 1), src);
  src.isOpen = false;
  h.sourceLost(src);
  const dst = new FakeTarget();
  h.targetReady(dst);
  assert.deepEqual(dst.sent.map((s) => s.payload), ["m1"]);
  dst.ackAll();
  assert.deepEqual(src.acks, [], "no ack on a closed connection");
  assert.equal(h.counters.forwarded, 1);
});

Deno.test("HalfBridge drops and acks a message the target broker refused (MQTT 5 code)", () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  h.accept(msg("c8y/x", "m1", 1), src);
  dst.sent[0].callback!(
    new MqttPublishError("Publish error: Not authorized", { reason: "refused", reasonCode: 135 }),
  );
  assert.deepEqual(src.acks, [1]);
  assert.equal(h.counters.dropped, 1);
  assert.equal(h.pending, 0);
});

Deno.test("HalfBridge forwards QoS 0 untracked and bounds the QoS 0 queue", () => {
  const h = half({ maxQueuedQos0: 2 });
  const src = new FakeSource();
  for (let i = 0; i < 4; i++) h.accept(msg("c8y/x", `q${i}`, undefined, 0), src);
  assert.equal(h.counters.dropped, 2);
  const dst = new FakeTarget();
  h.targetReady(dst);
  assert.deepEqual(dst.sent.map((s) => [s.payload, s.qos]), [["q0", 0], ["q1", 0]]);
  assert.equal(h.pending, 0);
  h.accept(msg("c8y/x", "q4", undefined, 0), src);
  assert.equal(dst.sent.length, 3);
  assert.equal(h.pending, 0);
  assert.deepEqual(src.acks, []);
});

Deno.test("HalfBridge with a loop breaker does not send our own echo back", () => {
  const breaker = new LoopBreaker();
  const out = half({ echoesToTarget: { breaker, echoes: (t) => t === "both" } });
  const back = half({
    name: "cloud -> local",
    route: (t) => `c8y/${t}`,
    echoesFromSource: breaker,
    sourceRedelivers: false,
  });
  const local = new FakeSource();
  const cloud = new FakeTarget();
  const cloudSource = new FakeSource();
  const localTarget = new FakeTarget();
  out.targetReady(cloud);
  back.targetReady(localTarget);
  out.accept(msg("c8y/both", "x", 1), local);
  out.accept(msg("c8y/oneway", "y", 2), local);
  assert.equal(breaker.size, 1);
  back.accept(msg("both", "x", 50), cloudSource); // the cloud's echo of our publish
  back.accept(msg("both", "x", 51), cloudSource); // someone else's message: forwarded
  assert.deepEqual(cloudSource.acks, [50]);
  assert.deepEqual(localTarget.sent.map((s) => s.topic), ["c8y/both"]);
  assert.equal(back.counters.echoes, 1);
});

Deno.test("HalfBridge.stopAccepting() leaves new messages unacked; idle() waits for PUBACKs", async () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  h.accept(msg("c8y/x", "m1", 1), src);
  h.stopAccepting();
  h.accept(msg("c8y/x", "m2", 2), src);
  assert.equal(dst.sent.length, 1);
  let idle = false;
  const waiting = h.idle().then(() => idle = true);
  await Promise.resolve();
  assert.equal(idle, false);
  dst.ackAll();
  await waiting;
  assert.deepEqual(src.acks, [1]);
});

Deno.test("HalfBridge asks the source to pause past `high` pending and resume at `low`", () => {
  const changes: boolean[] = [];
  const h = half({ pressure: { high: 3, low: 1, onChange: (p) => changes.push(p) } });
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  for (let i = 1; i <= 3; i++) h.accept(msg("c8y/x", `m${i}`, i), src);
  assert.deepEqual(changes, [true]);
  assert.equal(h.pressured, true);
  dst.sent[0].callback!();
  assert.deepEqual(changes, [true], "2 pending: still above low");
  dst.sent[1].callback!();
  assert.deepEqual(changes, [true, false]);
  assert.equal(h.pressured, false);
});

Deno.test("HalfBridge does not publish on a target that closed before targetLost()", () => {
  const h = half();
  const src = new FakeSource();
  const dst = new FakeTarget();
  h.targetReady(dst);
  dst.isOpen = false; // closed; the side has not called targetLost() yet
  h.accept(msg("c8y/x", "m1", 1), src);
  assert.equal(dst.sent.length, 0);
  h.targetLost(dst);
  const next = new FakeTarget();
  h.targetReady(next);
  assert.deepEqual(next.sent.map((s) => s.payload), ["m1"]);
});

for (const exit of ["acked", "refused", "lost", "stopped"] as const) {
  Deno.test(`HalfBridge.idle() resolves once the last in-flight message is ${exit}`, async () => {
    const h = half();
    const src = new FakeSource();
    const dst = new FakeTarget();
    h.targetReady(dst);
    h.accept(msg("c8y/x", "m1", 1), src);
    h.accept(msg("c8y/x", "m2", 2), src);
    dst.sent[0].callback!(); // m1 acked
    let idle = false;
    const waiting = h.idle().then(() => idle = true);
    await Promise.resolve();
    assert.equal(idle, false);
    if (exit === "acked") dst.sent[1].callback!();
    if (exit === "refused") {
      dst.sent[1].callback!(new MqttPublishError("Quota", { reason: "refused", reasonCode: 151 }));
    }
    if (exit === "lost") {
      dst.isOpen = false;
      h.targetLost(dst);
    }
    if (exit === "stopped") h.stop();
    await waiting;
    assert.equal(h.inFlight, 0);
    // Acked and refused messages are acked at the source; lost and stopped ones are not.
    assert.deepEqual(src.acks, exit === "acked" || exit === "refused" ? [1, 2] : [1]);
    assert.equal(h.pending, exit === "acked" || exit === "refused" ? 0 : 1);
  });
}
