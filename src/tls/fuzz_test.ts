/**
 * Post-handshake fuzz: after a real handshake with the fake server, the server sends correctly
 * encrypted records with hostile content (random inner types, alerts, handshake messages with
 * random types and lengths, fragments). Each connection must end in data, end of stream or a
 * TlsError: never a hang, an unexpected exception, or an unhandled rejection.
 */

import assert from "node:assert/strict";
import { startTlsWithConfig } from "./client.ts";
import { TlsError } from "./errors.ts";
import { fakeClientConfig, FakeServer } from "./testing/mod.ts";
import { pipePair } from "./testing/mod.ts";
import { prng } from "../../tests/helpers/prng.ts";

Deno.test("the connection survives or cleanly refuses 200 rounds of hostile encrypted records", async () => {
  const rng = prng(0x0dd_ba11);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const [c, s] = pipePair();
    const server = new FakeServer(s);
    const serverReady = server.handshake();
    const conn = await startTlsWithConfig(c, fakeClientConfig(), { readTimeoutMs: 100 });
    await serverReady;
    for (let n = 1 + rng.int(4); n > 0; n--) {
      const kind = rng.int(6);
      if (kind === 0) {
        await server.sendRecord(21, rng.bytes(rng.int(4)));
      } else if (kind === 1) {
        const len = rng.int(3) === 0 ? rng.int(0x1000000) : rng.int(40);
        const msg = Uint8Array.of(rng.int(30), len >>> 16, (len >>> 8) & 0xff, len & 0xff);
        await server.sendRecord(22, new Uint8Array([...msg, ...rng.bytes(rng.int(60))]));
      } else if (kind === 2) {
        await server.sendRecord(23, rng.bytes(rng.int(100)));
      } else if (kind === 3) {
        await server.sendRecord(rng.int(256), rng.bytes(rng.int(50)));
      } else if (kind === 4) {
        await server.sendRaw(rng.bytes(1 + rng.int(100)));
      } else {
        await server.sendRecord(22, Uint8Array.of(4, 0, 0, 20, ...rng.bytes(20)));
      }
    }
    if (rng.int(2) === 0) s.close();
    let outcome = "stalled";
    for (let reads = 0; reads < 20; reads++) {
      const got = await Promise.race([
        conn.read().then((d) => d === null ? "end" : "data", (e) => e),
        new Promise((r) => setTimeout(() => r("stalled"), 250)),
      ]);
      if (got === "data") continue;
      if (got instanceof Error) {
        assert.ok(got instanceof TlsError, `round ${i}: ${got.stack}`);
        outcome = `${got.name}${got.alertToSend ? ` (${got.alertToSend})` : ""}`;
      } else outcome = got as string;
      break;
    }
    // A stall is fine only while the server keeps the stream open with nothing pending.
    if (outcome === "stalled") assert.ok(!s.closed, `round ${i}: stalled after the server closed`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    await conn.close();
    s.close();
  }
  assert.ok(outcomes.size >= 4, JSON.stringify([...outcomes]));
  console.log("post-handshake fuzz outcomes:", Object.fromEntries(outcomes));
});
