/**
 * Post-handshake fuzz: after a real handshake with the fake server (TLS 1.3, then TLS 1.2), the
 * server sends correctly encrypted records with hostile content (random types, alerts,
 * handshake messages with random types and lengths, HelloRequests, change_cipher_spec,
 * fragments). Each connection must end in data, end of stream or a one-line TlsError: never a
 * hang, an unexpected exception, or an unhandled rejection.
 */

import assert from "node:assert/strict";
import { startTlsWithConfig } from "./client.ts";
import { TlsError } from "./errors.ts";
import { fakeClientConfig, FakeServer, FakeTls12Server, pipePair } from "./testing/mod.ts";
import type { PipeEnd } from "./testing/test_transport.ts";
import { prng } from "../../tests/helpers/prng.ts";

type FuzzServer = {
  handshake(): Promise<void>;
  sendRecord(type: number, content: Uint8Array): Promise<void>;
  sendRaw(bytes: Uint8Array): Promise<void>;
};

/**
 * 200 rounds: a fresh connection per round, 1-4 hostile records from the server, then reads
 * until the connection ends or stalls. `makeServer` builds the fake server of one version.
 */
async function fuzzRounds(seed: number, makeServer: (end: PipeEnd) => FuzzServer) {
  const rng = prng(seed);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const [c, s] = pipePair();
    const server = makeServer(s);
    const serverReady = server.handshake();
    const conn = await startTlsWithConfig(c, fakeClientConfig(), { readTimeoutMs: 100 });
    await serverReady;
    for (let n = 1 + rng.int(4); n > 0; n--) {
      const kind = rng.int(7);
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
      } else if (kind === 5) {
        await server.sendRecord(22, Uint8Array.of(4, 0, 0, 20, ...rng.bytes(20)));
      } else {
        // TLS 1.2: a HelloRequest, or a plaintext change_cipher_spec; TLS 1.3 likewise hostile.
        if (rng.int(2)) await server.sendRecord(22, Uint8Array.of(0, 0, 0, 0));
        else await server.sendRaw(Uint8Array.of(20, 3, 3, 0, 1, 1));
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
        assert.equal(got.message.split("\n").length, 1, `round ${i}: one-line message`);
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
  return Object.fromEntries(outcomes);
}

Deno.test("the connection survives or cleanly refuses 200 rounds of hostile encrypted records", async () => {
  const outcomes = await fuzzRounds(0x0dd_ba11, (s) => new FakeServer(s));
  console.log("post-handshake fuzz outcomes:", outcomes);
});

Deno.test("a TLS 1.2 connection survives or cleanly refuses 200 rounds of hostile records", async () => {
  const outcomes = await fuzzRounds(0x7125_ba11, (s) => new FakeTls12Server(s));
  console.log("TLS 1.2 post-handshake fuzz outcomes:", outcomes);
});
