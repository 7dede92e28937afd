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

Deno.test("transportDuplex() gathers up to 64 KiB per transport write, in order, reusing its buffer", async () => {
  const t = memoryTransport();
  const d = transportDuplex(t);
  const piece = (n: number, fill: number) => Buffer.alloc(n, fill);
  const batch = (pieces: Buffer[]) => {
    d.cork();
    for (const p of pieces) d.write(p);
    d.uncork();
  };
  batch([piece(40_000, 1), piece(30_000, 2), piece(100_000, 3), piece(10, 4), piece(5, 5)]);
  await new Promise((r) => setTimeout(r, 10));
  batch([piece(3, 6), piece(4, 7)]); // reuses the buffer the first batch was copied into
  await new Promise((r) => setTimeout(r, 10));
  const sizes = t.writes.map((w) => w.length);
  assert.deepEqual(sizes, [40_000, 30_000, 100_000, 15, 7]);
  assert.deepEqual([t.writes[0][0], t.writes[1][0], t.writes[2][0]], [1, 2, 3]);
  assert.deepEqual([...t.writes[3]], [...piece(10, 4), ...piece(5, 5)]);
  assert.deepEqual([...t.writes[4]], [6, 6, 6, 7, 7, 7, 7]);
  d.destroy();
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
