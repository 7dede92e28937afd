import assert from "node:assert/strict";
import { getLogger, setLogSink } from "../log.ts";
import { Outbox } from "../outbox/mod.ts";
import { HalfBridge } from "./half_bridge.ts";
import { FakeSource, FakeTarget } from "./_fake_links.ts";
import { StoredQueue } from "./stored_queue.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const msg = (payload: string, messageId?: number, qos: 0 | 1 = 1) => ({
  topic: "c8y/s/us",
  payload: enc(payload),
  qos,
  retain: false,
  messageId,
});

/** A local -> cloud half bridge on an outbox in a temp dir. */
async function stored(
  fn: (h: HalfBridge, outbox: Outbox) => Promise<void> | void,
  opts: {
    maxBytes?: number;
    maxInFlight?: number;
    pressure?: { high: number; low: number; onChange(paused: boolean): void };
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hsm-bridge-stored-" });
  const outbox = Outbox.open({ path: `${dir}/outbox.db`, maxBytes: opts.maxBytes ?? 1 << 20 });
  try {
    const h = new HalfBridge({
      name: "local -> cloud",
      route: (t) => t.startsWith("c8y/") ? t.slice(4) : undefined,
      sourceRedelivers: true,
      queue: new StoredQueue(outbox, getLogger("test")),
      maxInFlight: opts.maxInFlight ?? 1000,
      pressure: opts.pressure,
      log: getLogger("test"),
    });
    await fn(h, outbox);
  } finally {
    await outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("HalfBridge on the outbox acks the source once a message is on disk or taken by the cloud, in order, and sends it without waiting for the disk", async () => {
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    const dst = new FakeTarget();
    h.targetReady(dst);
    h.accept(msg("a", 1), src);
    h.accept(msg("b", 2), src);
    h.accept(msg("c", 3), src);
    assert.deepEqual(dst.sent.map((s) => s.payload), ["a", "b", "c"]);
    dst.sent[1].callback!(); // the cloud takes b before the commit; a is neither stored nor taken
    assert.deepEqual(src.acks, [], "acks go in order: b waits for a");
    dst.sent[0].callback!(); // and a: both are safe, before their commit
    assert.deepEqual(src.acks, [1, 2]);
    await outbox.flush();
    assert.deepEqual(src.acks, [1, 2, 3]);
    assert.equal(outbox.depth, 1, "c stays stored until the cloud acks it");
    // Only c was written: one record of topic "s/us" (4 bytes), payload 1 byte, 7 bytes framing.
    assert.equal(outbox.stats().bytes, 4 + 1 + 7);
    dst.ackAll();
    assert.equal(outbox.depth, 0);
    assert.equal(h.counters.forwarded, 3);
  });
});

Deno.test("HalfBridge on the outbox keeps acking while the target is down and sends the backlog in order", async () => {
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    for (let i = 1; i <= 50; i++) h.accept(msg(`m${i}`, i), src);
    await outbox.flush();
    assert.equal(src.acks.length, 50, "acked while the cloud is down");
    assert.equal(outbox.depth, 50);
    const dst = new FakeTarget();
    h.targetReady(dst);
    assert.equal(dst.sent.length, 10, "the in-flight window");
    for (let i = 51; i <= 60; i++) h.accept(msg(`m${i}`, i), src); // behind the backlog
    await outbox.flush();
    const got: string[] = [];
    while (dst.sent.length) {
      got.push(...dst.sent.map((s) => s.payload));
      dst.ackAll();
    }
    assert.deepEqual(got, Array.from({ length: 60 }, (_, i) => `m${i + 1}`));
    assert.equal(outbox.depth, 0);
  }, { maxInFlight: 10 });
});

Deno.test("HalfBridge on the outbox sends again, first and in order, what a lost target did not ack", async () => {
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    const first = new FakeTarget();
    h.targetReady(first);
    for (let i = 1; i <= 4; i++) h.accept(msg(`m${i}`, i), src);
    await outbox.flush();
    first.sent[1].callback!(); // m2 acked, m1 m3 m4 not
    first.isOpen = false;
    h.targetLost(first);
    h.accept(msg("m5", 5), src);
    await outbox.flush();
    const second = new FakeTarget();
    h.targetReady(second);
    assert.deepEqual(second.sent.map((s) => s.payload), ["m1", "m3", "m4", "m5"]);
  });
});

Deno.test("HalfBridge on the outbox stores a message whose source closed before its commit (it comes again: a duplicate, never a loss)", async () => {
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    h.accept(msg("a", 1), src);
    src.isOpen = false;
    h.sourceLost(src);
    await outbox.flush();
    assert.equal(outbox.depth, 1);
    assert.deepEqual(src.acks, [], "no ack on a closed connection");
  });
});

Deno.test("HalfBridge on a full outbox stops acking, drops nothing, and resumes in order as the cloud acks", async () => {
  const lines: string[] = [];
  const previous = setLogSink((l) => lines.push(l));
  try {
    // 7 + 4 ("s/us") + 2 = 13 bytes a message: room for 4.
    await stored(async (h, outbox) => {
      const src = new FakeSource();
      for (let i = 1; i <= 7; i++) h.accept(msg(`m${i}`, i), src);
      await outbox.flush();
      assert.deepEqual(src.acks, [1, 2, 3, 4]);
      assert.equal(h.pending, 7);
      assert.match(lines.join("\n"), /WARN .*Outbox full: messages from the local broker are not/);
      h.accept(msg("m8", 8), src); // behind the held ones, though a message may fit later
      const dst = new FakeTarget();
      h.targetReady(dst);
      const got: string[] = [];
      while (got.length < 8) {
        await outbox.flush();
        got.push(...dst.sent.map((s) => s.payload));
        dst.ackAll();
      }
      assert.deepEqual(got, ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
      assert.deepEqual(src.acks, [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(h.counters.dropped, 0);
      assert.match(lines.join("\n"), /INFO .*Outbox has room again/);
      assert.equal(outbox.stats().expired, 0);
    }, { maxBytes: 13 * 4 });
  } finally {
    setLogSink(previous);
  }
});

Deno.test("HalfBridge on the outbox forwards QoS 0 untracked and drops a message larger than the outbox", async () => {
  await stored((h, outbox) => {
    const src = new FakeSource();
    h.accept(msg("q0", undefined, 0), src); // target down: waits in memory
    h.accept(msg("x".repeat(200), 9), src);
    assert.equal(h.counters.dropped, 1);
    assert.deepEqual(src.acks, [9]);
    const dst = new FakeTarget();
    h.targetReady(dst);
    assert.deepEqual(dst.sent.map((s) => [s.payload, s.qos]), [["q0", 0]]);
    assert.equal(outbox.depth, 0);
  }, { maxBytes: 100 });
});

Deno.test("HalfBridge on the outbox resumes a paused source once a commit acked what it held", async () => {
  const changes: boolean[] = [];
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    for (let i = 1; i <= 5; i++) h.accept(msg(`m${i}`, i), src);
    assert.deepEqual(changes, [true], "paused: 5 held unacked");
    // No new message arrives while paused: the commit alone must resume the source.
    await outbox.flush();
    assert.deepEqual(src.acks, [1, 2, 3, 4, 5]);
    assert.deepEqual(changes, [true, false]);
  }, { pressure: { high: 4, low: 2, onChange: (p) => changes.push(p) } });
});

Deno.test("HalfBridge on the outbox resumes a paused source once the cloud acked what it held, before any commit", async () => {
  const changes: boolean[] = [];
  await stored(async (h, outbox) => {
    const src = new FakeSource();
    const dst = new FakeTarget();
    h.targetReady(dst);
    for (let i = 1; i <= 5; i++) h.accept(msg(`m${i}`, i), src);
    assert.deepEqual(changes, [true], "paused: 5 held unacked");
    dst.ackAll(); // all five are safe in the cloud: none is written, and the source goes on
    assert.deepEqual(src.acks, [1, 2, 3, 4, 5]);
    assert.deepEqual(changes, [true, false]);
    await outbox.flush();
    assert.equal(outbox.stats().bytes, 0, "nothing written");
    assert.deepEqual(changes, [true, false]);
  }, { pressure: { high: 4, low: 2, onChange: (p) => changes.push(p) } });
});
