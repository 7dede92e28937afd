/**
 * Record framing (RFC 8446 5.1) and the byte codec: records come out whole however the stream
 * is chunked, limits are enforced before buffering, and every read is bounds-checked.
 */

import assert from "node:assert/strict";
import { concatBytes, Reader, Writer } from "../codec.ts";
import { TlsDecodeError, TlsPeerMisbehavedError, TlsTimeoutError } from "../errors.ts";
import { encodePlaintextRecord, RecordReader } from "./record.ts";
import { pipePair, ScriptedTransport } from "../testing/mod.ts";

function randomRecords(seed: number, count: number): Uint8Array[] {
  let x = seed;
  const rnd = (n: number) => (x = (x * 1103515245 + 12345) >>> 0) % n;
  return Array.from({ length: count }, (_, i) => {
    const len = i % 7 === 0 ? 16384 : rnd(3000);
    const body = Uint8Array.from({ length: len }, () => rnd(256));
    return encodePlaintextRecord(22 + (i % 2), body);
  });
}

Deno.test("RecordReader returns whole records however the stream is split", async () => {
  const all = randomRecords(7, 40);
  for (const piece of [1, 3, 5, 4096, 16389, 70000]) {
    // Byte-sized pieces over a shorter stream: the point is the split, not the volume.
    const records = piece < 16 ? all.slice(1, 8) : all;
    const stream = concatBytes(...records);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += piece) chunks.push(stream.subarray(at, at + piece));
    const reader = new RecordReader(new ScriptedTransport(chunks), 1000);
    for (const expected of records) {
      const r = await reader.next();
      assert.ok(r);
      assert.deepEqual(concatBytes(r.header, r.fragment), expected, `piece ${piece}`);
    }
    assert.equal(await reader.next(), null);
  }
});

Deno.test("RecordReader refuses oversized, unknown and non-TLS records from the header alone", async () => {
  const cases: [number[], RegExp][] = [
    [[22, 3, 3, 0x40, 0x01], /record of 16385 bytes: the limit is 16384/],
    [[23, 3, 3, 0x41, 0x01], /record of 16641 bytes: the limit is 16640/],
    [[0x48, 0x54, 0x54, 0x50, 0x2f], /unknown type 0x0048: it does not look like a TLS server/],
    [[22, 0x53, 0x53, 0, 1], /version 0x5353/],
  ];
  for (const [header, message] of cases) {
    const reader = new RecordReader(new ScriptedTransport([new Uint8Array(header)]), 1000);
    await assert.rejects(reader.next(), (e: unknown) => {
      assert.ok(e instanceof TlsPeerMisbehavedError || e instanceof TlsDecodeError);
      assert.match((e as Error).message, message);
      return true;
    });
  }
});

Deno.test("RecordReader tells a clean end from an end inside a record", async () => {
  const rec = encodePlaintextRecord(22, new Uint8Array(100));
  assert.equal(await new RecordReader(new ScriptedTransport([]), 1000).next(), null);
  for (const cut of [2, 5, 50]) {
    const reader = new RecordReader(new ScriptedTransport([rec.subarray(0, cut)]), 1000);
    await assert.rejects(reader.next(), /closed the connection in the middle of a record/);
  }
});

Deno.test("RecordReader times out only when a record stalls part way", async () => {
  const [a, b] = pipePair();
  const reader = new RecordReader(a, 100);
  // Idle between records: no timeout.
  const idle = reader.next();
  const raced = await Promise.race([idle, new Promise((r) => setTimeout(() => r("idle"), 300))]);
  assert.equal(raced, "idle");
  await b.write(new Uint8Array([22, 3, 3, 0, 10, 1, 2]));
  await assert.rejects(idle, (e: unknown) => e instanceof TlsTimeoutError);
  assert.ok(a.closed, "the stalled transport is closed");
  b.close();
});

Deno.test("Reader checks every length against what is left", () => {
  const r = new Reader(new Uint8Array([0, 5, 1, 2]), "test");
  assert.throws(() => r.vector(2, "field"), /field needs 5 bytes, only 2 left/);
  const list = new Reader(new Uint8Array([0, 3, 0, 1, 2]), "test");
  assert.throws(() => list.u16List(2, "list"), /odd length/);
  const range = new Reader(new Uint8Array([0]), "test");
  assert.throws(() => range.vector(1, "v", 1), /length 0, expected at least 1/);
  const trailing = new Reader(new Uint8Array([1, 2]), "test");
  trailing.u8();
  assert.throws(() => trailing.end(), /1 unexpected trailing bytes/);
});

Deno.test("Writer grows, nests length prefixes and refuses values out of range", () => {
  const w = new Writer(1);
  w.sub(2, (a) => a.sub(1, (b) => b.bytes(new Uint8Array(300).subarray(0, 200))).u24(0x010203));
  const out = w.finish();
  assert.deepEqual([...out.subarray(0, 3)], [0, 204, 200]);
  assert.deepEqual([...out.subarray(203)], [1, 2, 3]);
  assert.throws(() => new Writer().u8(256), RangeError);
  assert.throws(() => new Writer().sub(1, (x) => x.bytes(new Uint8Array(256))), RangeError);
});
