/**
 * Hostile servers: a fake TCP server on 127.0.0.1 answers each ClientHello with truncated,
 * oversized, random or mutated records, TLS 1.3 and TLS 1.2 ServerHellos and flights
 * included (a seeded, bounded loop). Every attempt must end in a
 * TlsError and a closed socket within the timeout: never a hang, an unhandled rejection, a
 * crash, or a leaked resource (Deno's test sanitizers check the last two).
 */
import assert from "node:assert/strict";
import { connectTls, TlsError } from "../src/tls/mod.ts";
import { TrustStore } from "../src/x509/mod.ts";
import { TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";
import { within } from "./tls_helpers.ts";
import { type Prng, prng } from "./helpers/prng.ts";

const ITERATIONS = 200;
const SEED = 0x5eed_7153;
const HANDSHAKE_TIMEOUT_MS = 400;
const READ_TIMEOUT_MS = 150;

function record(type: number, body: Uint8Array, length = body.length): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out.set([type, 3, 3, (length >>> 8) & 0xff, length & 0xff]);
  out.set(body, 5);
  return out;
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/**
 * A plausible ServerHello for the ClientHello received: it echoes the session id and answers
 * with an x25519 share, so mutations of it reach the deeper checks.
 */
function serverHello(clientHello: Uint8Array, rng: Prng): Uint8Array {
  const sidLen = clientHello[43] ?? 0;
  const sid = clientHello.subarray(44, 44 + sidLen);
  const ext = concat(
    new Uint8Array([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]),
    new Uint8Array([0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20]),
    rng.bytes(32),
  );
  const body = concat(
    new Uint8Array([0x03, 0x03]),
    rng.bytes(32),
    new Uint8Array([sid.length]),
    sid,
    new Uint8Array([0x13, 0x01, 0x00, ext.length >>> 8, ext.length & 0xff]),
    ext,
  );
  const msg = concat(new Uint8Array([2, 0, body.length >>> 8, body.length & 0xff]), body);
  return record(22, msg);
}

/**
 * A plausible TLS 1.2 ServerHello: a new session id, ECDHE-ECDSA-AES128-GCM, extended master
 * secret and renegotiation_info, so that what follows reaches the TLS 1.2 flight's checks.
 */
function serverHello12(rng: Prng): Uint8Array {
  const ext = new Uint8Array([0x00, 0x17, 0x00, 0x00, 0xff, 0x01, 0x00, 0x01, 0x00]);
  const body = concat(
    new Uint8Array([0x03, 0x03]),
    rng.bytes(32),
    new Uint8Array([32]),
    rng.bytes(32),
    new Uint8Array([0xc0, 0x2b, 0x00, 0x00, ext.length]),
    ext,
  );
  return concat(new Uint8Array([2, 0, body.length >>> 8, body.length & 0xff]), body);
}

/** A TLS 1.2 server message (Certificate, ServerKeyExchange, CertificateRequest, Done...). */
function message12(rng: Prng): Uint8Array {
  const u24 = (n: number) => new Uint8Array([n >>> 16, (n >>> 8) & 0xff, n & 0xff]);
  const type = [11, 12, 13, 14, 0, 20][rng.int(6)];
  let body = rng.bytes(rng.int(3) === 0 ? 0 : rng.int(300));
  if (type === 11 && rng.int(2)) {
    // A well-formed certificate_list holding one random "certificate".
    const cert = rng.bytes(1 + rng.int(200));
    const entry = concat(u24(cert.length), cert);
    body = concat(u24(entry.length), entry);
  }
  return concat(new Uint8Array([type]), u24(body.length), body);
}

/** One hostile answer; `stall` keeps the socket open afterwards. */
function hostileAnswer(clientHello: Uint8Array, rng: Prng): { bytes: Uint8Array; stall: boolean } {
  const stall = rng.int(10) === 0;
  switch (rng.int(9)) {
    case 0: // random bytes
      return { bytes: rng.bytes(1 + rng.int(3000)), stall };
    case 1: { // a record announced longer than what arrives
      const len = 1 + rng.int(16000);
      return { bytes: record(20 + rng.int(4), rng.bytes(rng.int(len)), len), stall };
    }
    case 2: { // oversized records
      const type = 20 + rng.int(4);
      const len = (type === 23 ? 16641 : 16385) + rng.int(49000);
      return { bytes: record(type, rng.bytes(rng.int(64)), len), stall };
    }
    case 3: { // a ServerHello, then random records
      const parts = [serverHello(clientHello, rng)];
      for (let i = rng.int(6); i > 0; i--) {
        parts.push(record(20 + rng.int(4), rng.bytes(rng.int(600))));
      }
      return { bytes: concat(...parts), stall };
    }
    case 4: { // a ServerHello with a few bytes changed, maybe cut short
      const sh = serverHello(clientHello, rng);
      for (let i = 1 + rng.int(8); i > 0; i--) sh[rng.int(sh.length)] = rng.int(256);
      return { bytes: rng.int(3) === 0 ? sh.subarray(0, rng.int(sh.length)) : sh, stall };
    }
    case 5: { // a ServerHello, then handshake records split at random, then garbage
      const sh = serverHello(clientHello, rng);
      const garbage = record(23, rng.bytes(17 + rng.int(300)));
      return { bytes: concat(sh, new Uint8Array([20, 3, 3, 0, 1, 1]), garbage), stall };
    }
    case 7: { // TLS 1.2: a ServerHello, then its flight's messages with random content
      const parts = [serverHello12(rng)];
      for (let i = rng.int(5); i > 0; i--) parts.push(message12(rng));
      const records = [record(22, concat(...parts))];
      if (rng.int(3) === 0) records.push(new Uint8Array([20, 3, 3, 0, 1, 1]));
      if (rng.int(3) === 0) records.push(record(22, rng.bytes(17 + rng.int(100))));
      return { bytes: concat(...records), stall };
    }
    case 8: { // TLS 1.2: a ServerHello with a few bytes changed
      const sh = serverHello12(rng);
      for (let i = 1 + rng.int(6); i > 0; i--) sh[rng.int(sh.length)] = rng.int(256);
      return { bytes: record(22, concat(sh, message12(rng))), stall };
    }
    default: { // plaintext handshake messages with hostile lengths
      const len = rng.int(0x1000000);
      const msg = concat(
        new Uint8Array([rng.int(256), len >>> 16, (len >>> 8) & 0xff, len & 0xff]),
        rng.bytes(rng.int(200)),
      );
      return { bytes: record(22, msg), stall };
    }
  }
}

Deno.test("TLS client ends every hostile server answer in an error and a closed socket, never a hang", async () => {
  await using dir = await tempDir("tls-fuzz-");
  const pki = await TestPki.create(`${dir.path}/pki`);
  const trustStore = await TrustStore.load(pki.caPath);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const rng = prng(SEED);
  const outcomes = new Map<string, number>();
  // The server side: one connection per iteration, answer, then close or hold it open.
  const served = (async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const conn = await listener.accept();
      try {
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        const { bytes, stall } = hostileAnswer(buf.subarray(0, n ?? 0), rng);
        await conn.write(bytes).catch(() => {});
        if (stall) {
          // Hold the socket until the client gives up (it closes; our read sees the end).
          await conn.read(new Uint8Array(65536)).catch(() => null);
          while (await conn.read(new Uint8Array(65536)).catch(() => null) !== null) { /* drain */ }
        } else {
          await conn.closeWrite().catch(() => {});
          while (await conn.read(new Uint8Array(65536)).catch(() => null) !== null) { /* drain */ }
        }
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
  })();
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const attempt = connectTls({
        hostname: "127.0.0.1",
        port,
        trustStore,
        handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
        readTimeoutMs: READ_TIMEOUT_MS,
      });
      const err = await within(
        attempt.then(
          (c) => {
            c.close();
            return new Error(`iteration ${i}: the handshake succeeded`);
          },
          (e) => e,
        ),
        HANDSHAKE_TIMEOUT_MS + 5_000,
        `iteration ${i}`,
      );
      assert.ok(err instanceof TlsError, `iteration ${i}: ${err?.stack ?? err}`);
      assert.equal(err.message.split("\n").length, 1, `iteration ${i}: one-line message`);
      const key = `${err.name}${err.alertToSend ? ` (${err.alertToSend})` : ""}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  } finally {
    await within(served, 20_000, "fake server");
    listener.close();
  }
  // Several kinds of refusal were reached, not just one early check.
  assert.ok(outcomes.size >= 5, JSON.stringify([...outcomes]));
  console.log("fuzz outcomes:", Object.fromEntries(outcomes));
});
