/**
 * Interop: our TLS 1.3 client against mosquitto with `tls_version tlsv1.3` and
 * `require_certificate true`, speaking a few hand-made MQTT 3.1.1 packets over it (the MQTT
 * client proper lives in src/mqtt; here only the TLS layer is under test).
 */
import assert from "node:assert/strict";
import { connectTls, TlsAlertReceivedError, type TlsConnection } from "../src/tls/mod.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { remainingLength } from "./helpers/mqtt_bytes.ts";
import { tempDir } from "./helpers/process.ts";
import { CLIENT_KINDS, clientOptions, tlsFixture, within } from "./tls_helpers.ts";

const te = new TextEncoder();

function packet(type: number, body: Uint8Array): Uint8Array {
  return new Uint8Array([type, ...remainingLength(body.length), ...body]);
}

function str(s: string): number[] {
  const b = te.encode(s);
  return [b.length >>> 8, b.length & 0xff, ...b];
}

const connect = (id: string) =>
  packet(0x10, new Uint8Array([...str("MQTT"), 4, 0x02, 0, 60, ...str(id)]));
const subscribe = (topic: string) => packet(0x82, new Uint8Array([0, 1, ...str(topic), 0]));
const publish = (topic: string, payload: Uint8Array) =>
  packet(0x30, new Uint8Array([...str(topic), ...payload]));

/** Reads MQTT packets off the TLS connection. */
class PacketReader {
  #buf = new Uint8Array(0);
  constructor(private readonly conn: TlsConnection) {}

  async next(): Promise<{ type: number; body: Uint8Array }> {
    for (;;) {
      const parsed = this.#parse();
      if (parsed) return parsed;
      const chunk = await within(this.conn.read(), 10_000, "MQTT read");
      if (chunk === null) throw new Error("broker closed the connection");
      const joined = new Uint8Array(this.#buf.length + chunk.length);
      joined.set(this.#buf);
      joined.set(chunk, this.#buf.length);
      this.#buf = joined;
    }
  }

  #parse(): { type: number; body: Uint8Array } | undefined {
    let len = 0, mul = 1, i = 1;
    for (;; i++) {
      if (i >= this.#buf.length) return undefined;
      len += (this.#buf[i] & 0x7f) * mul;
      mul *= 128;
      if (!(this.#buf[i] & 0x80)) break;
    }
    const end = i + 1 + len;
    if (this.#buf.length < end) return undefined;
    const p = { type: this.#buf[0], body: this.#buf.slice(i + 1, end) };
    this.#buf = this.#buf.slice(end);
    return p;
  }
}

Deno.test("TLS client talks MQTT to mosquitto (TLS 1.3, client certificate required) with each key type", async () => {
  await using dir = await tempDir("tls-mosquitto-");
  const fx = await tlsFixture(dir.path);
  try {
    await using broker = await Mosquitto.start({
      dir: dir.path,
      tls: { caPath: fx.pki.caPath, certPath: fx.server.certPath, keyPath: fx.server.keyPath! },
    });
    for (const kind of CLIENT_KINDS) {
      const conn = await within(
        connectTls(clientOptions(fx, broker.port, kind, { serverName: "localhost" })),
        20_000,
        kind,
      );
      assert.equal(conn.info.version, "TLSv1.3");
      assert.equal(conn.info.clientCertificateRequested, true);
      const packets = new PacketReader(conn);
      await conn.write(connect(`tls-test-${kind}`));
      const connack = await packets.next();
      assert.deepEqual([connack.type, ...connack.body], [0x20, 0, 0], `${kind}: CONNACK`);
      await conn.write(subscribe(`tls/${kind}`));
      assert.equal((await packets.next()).type, 0x90, "SUBACK");
      // 100 KB through the broker and back: several full-size records each way.
      const payload = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
      await conn.write(publish(`tls/${kind}`, payload));
      const echoed = await packets.next();
      assert.equal(echoed.type, 0x30);
      const topicLen = (echoed.body[0] << 8) | echoed.body[1];
      assert.deepEqual(echoed.body.subarray(2 + topicLen), payload, `${kind}: payload`);
      await conn.write(new Uint8Array([0xc0, 0])); // PINGREQ
      assert.equal((await packets.next()).type, 0xd0, "PINGRESP");
      await conn.write(new Uint8Array([0xe0, 0])); // DISCONNECT
      await conn.close();
    }
    assert.match(broker.log, /tls-test-ed25519/);
  } finally {
    await fx.close();
  }
});

Deno.test("TLS client without a certificate hears mosquitto's refusal on its first read", async () => {
  await using dir = await tempDir("tls-mosquitto-");
  const fx = await tlsFixture(dir.path, ["p256"]);
  try {
    await using broker = await Mosquitto.start({
      dir: dir.path,
      tls: { caPath: fx.pki.caPath, certPath: fx.server.certPath, keyPath: fx.server.keyPath! },
    });
    const conn = await within(
      connectTls(clientOptions(fx, broker.port, null, { serverName: "localhost" })),
      20_000,
      "connect",
    );
    await conn.write(connect("anonymous")).catch(() => {});
    await within(
      assert.rejects(conn.read(), (e: unknown) => {
        assert.ok(e instanceof TlsAlertReceivedError, String(e));
        assert.equal(e.received, "certificate_required");
        return true;
      }),
      10_000,
      "refusal",
    );
    await conn.close();
  } finally {
    await fx.close();
  }
});
