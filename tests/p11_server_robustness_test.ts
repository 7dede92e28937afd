/**
 * hsm-bridge p11-server against clients that misbehave: garbage, truncated and oversized
 * frames, a client that never shuts down its write side, one that leaves before the answer.
 * Each gets an Error frame or a closed connection; the server keeps serving (a ping answers
 * after each), and requests are carried out one at a time. A stand-in token side keeps these
 * fast; the PKCS#11 side is tested in p11_socket_test.ts.
 */
import assert from "node:assert/strict";
import {
  decodeFrame,
  encodeFrame,
  type Frame1,
  P11Client,
  P11ServerError,
  Secret,
} from "../src/keys/mod.ts";
import { type P11Service, type RunningServer, startP11Server } from "../src/p11_server/mod.ts";
import { prng } from "./helpers/prng.ts";
import { tempDir } from "./helpers/process.ts";

/** A token side that signs slowly and records how many requests ran at once. */
class FakeService implements P11Service {
  running = 0;
  maxRunning = 0;
  calls = 0;
  async #busy<T>(value: T, ms = 0): Promise<T> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise((r) => setTimeout(r, ms));
    this.running--;
    return value;
  }
  chooseScheme() {
    return this.#busy({ scheme: 0x0403, algorithm: 3 });
  }
  sign(toSign: Uint8Array) {
    return this.#busy(toSign.slice().reverse(), 50);
  }
  publicKeyPem() {
    return this.#busy("pem");
  }
  createKey(): Promise<{ pem: string; uri: string }> {
    return Promise.reject(new Error("no"));
  }
  tokenUris() {
    return this.#busy(["pkcs11:token=a"]);
  }
  listTokens() {
    return this.#busy([]);
  }
  listKeys() {
    return this.#busy([]);
  }
  close() {
    return Promise.resolve();
  }
}

async function withServer(
  fn: (s: RunningServer, path: string, service: FakeService) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const service = new FakeService();
  const path = `${dir.path}/p11.sock`;
  const running = await startP11Server({
    socketPath: path,
    modulePath: "/unused.so",
    pin: new Secret("unused"),
    service,
    readTimeoutMs: 400,
    maxFrameBytes: 64 * 1024,
  });
  try {
    await fn(running, path, service);
  } finally {
    await running.stop();
  }
}

/** Sends raw bytes (shutting down the write side unless told not to); returns the answer. */
async function raw(
  path: string,
  bytes: Uint8Array,
  { shutdown = true } = {},
): Promise<Uint8Array> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    // Not awaited when the server may stop reading (an oversized frame): the answer comes first.
    const written = (async () => {
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      if (shutdown) await conn.closeWrite();
    })().catch(() => {});
    if (shutdown) await written;
    const out: number[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return Uint8Array.from(out);
      out.push(...buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

function errorText(bytes: Uint8Array): string {
  const f = decodeFrame(bytes);
  assert.equal(f.type, "Error");
  return (f as Extract<Frame1, { type: "Error" }>).message;
}

Deno.test("garbage and truncated frames get tedge's parse error, and the server keeps serving", async () => {
  await withServer(async (_s, path) => {
    const client = new P11Client({ socketPath: path });
    const garbage = await raw(path, new TextEncoder().encode("garbage"));
    assert.match(errorText(garbage), /^read: Failed to parse the received frame: /);
    const sign = encodeFrame({
      type: "SignRequestWithSigScheme",
      toSign: new Uint8Array(32),
      uri: "pkcs11:token=edge",
      sigscheme: 0x0403,
      pin: new Secret("1234"),
    });
    for (const cut of [1, 2, 5, 20, sign.length - 4]) {
      const answer = await raw(path, sign.subarray(0, cut));
      assert.match(
        errorText(answer),
        /Failed to parse the received frame: (frame ends before|length of \w+ \(\d+\) exceeds)/,
        `${cut}`,
      );
    }
    assert.equal(
      errorText(await raw(path, new Uint8Array())),
      "read: Failed to parse the received frame: empty frame",
    );
    await client.ping();
  });
});

Deno.test("random mutations of valid frames never stop the server: every one gets a frame back", async () => {
  await withServer(async (_s, path) => {
    const random = prng(13);
    const seeds: Frame1[] = [
      { type: "Ping" },
      { type: "ChooseSchemeRequest", offered: [0x0403, 0x0804], uri: "pkcs11:token=a" },
      { type: "SignRequestWithSigScheme", toSign: new Uint8Array(40), sigscheme: 0x0804 },
      { type: "ListKeysRequest", uri: "pkcs11:token=a", pin: new Secret("1") },
      { type: "CreateKeyRequest", uri: "pkcs11:", key: { kind: "ec", curve: 256 }, label: "k" },
    ];
    for (let i = 0; i < 150; i++) {
      const bytes = encodeFrame(seeds[i % seeds.length]).slice();
      for (let n = 1 + random.int(3); n > 0; n--) bytes[random.int(bytes.length)] = random.int(256);
      const answer = await raw(path, bytes);
      assert.ok(answer.length > 0, `no answer to ${bytes}`);
      decodeFrame(answer); // a frame, whatever it says
    }
    await new P11Client({ socketPath: path }).ping();
  });
});

Deno.test("an oversized frame is refused with an Error and the connection dropped", async () => {
  await withServer(async (_s, path) => {
    const answer = await raw(path, new Uint8Array(200 * 1024).fill(7), { shutdown: false });
    assert.equal(errorText(answer), "read: the request is larger than 65536 bytes");
    await new P11Client({ socketPath: path }).ping();
  });
});

Deno.test("a client that never shuts down its write side is dropped, and holds no one else up", async () => {
  await withServer(async (_s, path) => {
    const started = performance.now();
    const stuck = raw(path, encodeFrame({ type: "Ping" }), { shutdown: false });
    // Served while the stuck client waits.
    await new P11Client({ socketPath: path }).ping();
    assert.ok(performance.now() - started < 300, "the ping did not wait for the stuck client");
    assert.match(
      errorText(await stuck),
      /^read: no complete request within 400 ms \(a client must shut down its write side/,
    );
    await new P11Client({ socketPath: path }).ping();
  });
});

Deno.test("a client that leaves before its answer does not disturb the server", async () => {
  await withServer(async (s, path, service) => {
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect({ transport: "unix", path });
      await conn.write(encodeFrame({ type: "SignRequest", toSign: new Uint8Array(8) }));
      await conn.closeWrite();
      conn.close();
    }
    const half = await Deno.connect({ transport: "unix", path });
    half.close(); // connects and leaves without a byte
    await new P11Client({ socketPath: path }).ping();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(service.calls, 5, "the requests still ran, one after another");
    assert.ok(s.server.served >= 6);
  });
});

Deno.test("requests are carried out one at a time, each answered on its own connection", async () => {
  await withServer(async (_s, path, service) => {
    const client = new P11Client({ socketPath: path });
    const messages = [1, 2, 3, 4, 5].map((n) => Uint8Array.of(n, n + 1, n + 2));
    const signatures = await Promise.all(
      messages.map((m) => client.sign(m, undefined, 0x0403, undefined)),
    );
    assert.deepEqual(signatures, messages.map((m) => m.slice().reverse()));
    assert.equal(service.maxRunning, 1);
  });
});

Deno.test("every request variant is answered: responses as requests are invalid, unsupported ones say so", async () => {
  await withServer(async (_s, path) => {
    const client = new P11Client({ socketPath: path });
    const responses: Frame1[] = [
      { type: "Error", message: "x" },
      { type: "ChooseSchemeResponse", scheme: 0x0403, algorithm: 3 },
      { type: "SignResponse", signature: new Uint8Array() },
      { type: "GetPublicKeyPemResponse", pem: "" },
      { type: "Pong" },
      { type: "CreateKeyResponse", pem: "", uri: "" },
      { type: "GetTokensUrisResponse", uris: [] },
      { type: "InitTokenResponse", uri: "" },
      { type: "ListTokensResponse", tokens: [] },
      { type: "ChangePinResponse", uri: "" },
      { type: "DeleteKeyResponse", deleted: [] },
      { type: "ListKeysResponse", keys: [] },
    ];
    for (const frame of responses) {
      assert.equal(errorText(await raw(path, encodeFrame(frame))), "invalid request", frame.type);
    }
    const unsupported: [Frame1, RegExp][] = [
      [
        { type: "InitTokenRequest", label: "t" },
        /does not initialise tokens: use the token's own tool/,
      ],
      [{ type: "ChangePinRequest", newPin: new Secret("1"), reset: false }, /does not change PINs/],
      [{ type: "DeleteKeyRequest", uri: "pkcs11:object=k" }, /does not delete keys/],
    ];
    for (const [frame, message] of unsupported) {
      await assert.rejects(client.request(frame, "Pong"), (e: unknown) => {
        assert.ok(e instanceof P11ServerError);
        assert.match(e.serverMessage, /^PKCS #11 service failed: hsm-bridge p11-server /);
        assert.match(e.serverMessage, message);
        return true;
      });
    }
    assert.deepEqual(await client.tokenUris(), ["pkcs11:token=a"]);
    assert.deepEqual(await client.listTokens(), []);
    assert.deepEqual(await client.listKeys(undefined, undefined), []);
    assert.equal(await client.publicKeyPem(undefined), "pem");
  });
});
