import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { ByteTransport } from "./transport.ts";
import { transportDuplex } from "./duplex.ts";

/** An in-memory transport: `incoming` feeds read(), writes are recorded. */
function memoryTransport(): ByteTransport & {
  writes: Uint8Array[];
  feed(chunk: Uint8Array | null | Error): void;
  closeCalls: number;
} {
  const queue: (Uint8Array | null | Error)[] = [];
  let wake: (() => void) | undefined;
  const t = {
    writes: [] as Uint8Array[],
    closeCalls: 0,
    feed(chunk: Uint8Array | null | Error) {
      queue.push(chunk);
      wake?.();
    },
    async read(): Promise<Uint8Array | null> {
      while (queue.length === 0) await new Promise<void>((r) => wake = r);
      const next = queue.shift()!;
      if (next instanceof Error) throw next;
      return next;
    },
    write(data: Uint8Array) {
      t.writes.push(new Uint8Array(data));
      return Promise.resolve();
    },
    close() {
      t.closeCalls++;
      return Promise.resolve();
    },
  };
  return t;
}

Deno.test("transportDuplex() passes bytes both ways and batches corked writes", async () => {
  const t = memoryTransport();
  const d = transportDuplex(t);
  const received: Buffer[] = [];
  d.on("data", (b: Buffer) => received.push(b));
  t.feed(new Uint8Array([1, 2]));
  t.feed(new Uint8Array([3]));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...Buffer.concat(received)], [1, 2, 3]);

  d.cork();
  d.write(Buffer.from([10]));
  d.write(Buffer.from([11, 12]));
  d.write(Buffer.from([13]));
  d.uncork();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(t.writes.map((w) => [...w]), [[10, 11, 12, 13]], "one transport write");
  d.destroy();
  await new Promise((r) => d.once("close", r));
  assert.equal(t.closeCalls >= 1, true);
});

Deno.test("transportDuplex() closes when the peer closes (allowHalfOpen false)", async () => {
  const t = memoryTransport();
  const d = transportDuplex(t);
  d.resume();
  const closed = new Promise((r) => d.once("close", r));
  t.feed(null);
  await closed;
  assert.equal(d.destroyed, true);
});

Deno.test("transportDuplex() errors carry a code, as mqtt.js requires", async () => {
  const t = memoryTransport();
  const d = transportDuplex(t);
  d.resume();
  const error = new Promise<Error & { code?: string }>((r) => d.once("error", r));
  t.feed(new Error("boom"));
  const e = await error;
  assert.equal(e.message, "boom");
  assert.equal(e.code, "ECONNRESET");
});
