/**
 * The mqtt.js contract list of _mqttjs.ts, one test per item: each fails by name when an mqtt.js
 * upgrade changes what src/mqtt relies on. A scripted broker answers over an in-memory
 * transport, so every byte the client sends is seen.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { MqttClient } from "mqtt";
import {
  type IncomingMessage,
  MqttConnectError,
  MqttConnection,
  MqttPublishError,
} from "./connection.ts";
import { transportDuplex } from "./duplex.ts";
import { PacketIds } from "./outbound.ts";
import type { ByteTransport } from "./transport.ts";

/** A broker on the other end of an in-memory transport: records writes, answers by script. */
class ScriptedBroker implements ByteTransport {
  readonly written: number[][] = [];
  #queue: (Uint8Array | null)[] = [];
  #wake: (() => void) | undefined;
  #onWrite: (bytes: Uint8Array, broker: ScriptedBroker) => void;

  constructor(onWrite: (bytes: Uint8Array, broker: ScriptedBroker) => void) {
    this.#onWrite = onWrite;
  }
  send(bytes: number[] | null): void {
    this.#queue.push(bytes && new Uint8Array(bytes));
    this.#wake?.();
  }
  async read(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0) await new Promise<void>((r) => this.#wake = r);
    return this.#queue.shift()!;
  }
  write(data: Uint8Array): Promise<void> {
    this.written.push([...data]);
    this.#onWrite(data, this);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.send(null);
    return Promise.resolve();
  }
  /** First bytes of every packet type the client wrote after CONNECT. */
  packetTypes(): number[] {
    return this.written.slice(1).map((w) => w[0] & 0xf0);
  }
}

const enc = new TextEncoder();

/** PUBLISH QoS 1 (MQTT 5: with an empty property list). */
function publish(topic: string, id: number, payload: string, v5: boolean): number[] {
  const t = [...enc.encode(topic)];
  const body = [0, t.length, ...t, id >> 8, id & 0xff, ...(v5 ? [0] : []), ...enc.encode(payload)];
  return [0x32, body.length, ...body];
}

const CONNACK_3 = [0x20, 2, 0, 0];
const CONNACK_5 = [0x20, 3, 0, 0, 0];

async function open(broker: ScriptedBroker, v: 4 | 5, onMessage = (_: IncomingMessage) => {}) {
  return await MqttConnection.open({
    label: "test",
    transport: () => Promise.resolve(broker),
    clientId: "contract",
    protocolVersion: v,
    clean: true,
    keepaliveSeconds: 60,
    connectTimeoutMs: 2_000,
    onMessage: (m) => onMessage(m),
  });
}

const tick = () => new Promise((r) => setTimeout(r, 20));

// First in this file: mqtt-packet's number cache is module state, and a client with the default
// writeCache (contract 1's) would build it on its first packet.
Deno.test("mqtt.js contract 4: with writeCache false, mqtt-packet builds no number cache, and numbers are encoded the same", async () => {
  const fromMqtt = createRequire(import.meta.resolve("mqtt"));
  const numbers = fromMqtt(fromMqtt.resolve("mqtt-packet/numbers.js")) as {
    cache: Record<number, unknown>;
  };
  const broker = new ScriptedBroker((bytes, b) => {
    if (bytes[0] === 0x10) b.send(CONNACK_3);
    if ((bytes[0] & 0xf0) === 0x30) {
      b.send([0x40, 2, bytes[bytes.length - 4], bytes[bytes.length - 3]]); // PUBACK its id
    }
  });
  const conn = await open(broker, 4);
  const error = await new Promise<MqttPublishError | undefined>((resolve) =>
    conn.publish("a/b", "xy", { qos: 1, retain: false }, resolve)
  );
  assert.equal(error, undefined);
  const sent = broker.written.find((w) => (w[0] & 0xf0) === 0x30)!;
  // Fixed header, topic length 3, "a/b", a non-zero message id, "xy" (MQTT 3.1.1 section 3.3).
  assert.deepEqual(sent.slice(0, 7), [0x32, 9, 0, 3, 0x61, 0x2f, 0x62]);
  assert.notEqual((sent[7] << 8) | sent[8], 0);
  assert.deepEqual(sent.slice(9), [0x78, 0x79]);
  assert.equal(Object.keys(numbers.cache).length, 0, "mqtt-packet's number cache is not built");
  await conn.end();
});

Deno.test("mqtt.js contract 1: a QoS 1 PUBLISH whose handleMessage callback gets an error is not PUBACKed, and the next one comes in", async () => {
  // connection.ts decodes ordinary PUBLISHes itself (inbound.ts); the ones it leaves to mqtt.js
  // (a topic alias, say) still come through handleMessage, held this way.
  for (const v of [4, 5] as const) {
    const broker = new ScriptedBroker((bytes, b) => {
      if (bytes[0] === 0x10) b.send(v === 5 ? CONNACK_5 : CONNACK_3); // CONNECT
    });
    const duplex = transportDuplex(broker);
    const client = new MqttClient(() => duplex, {
      protocolVersion: v,
      reconnectPeriod: 0,
      log: () => {},
    });
    const got: number[] = [];
    const hold = new Error("held");
    client.handleMessage = (packet, callback) => {
      got.push((packet as { messageId: number }).messageId);
      callback(hold);
    };
    client.on("error", (e) => assert.equal(e, hold));
    await new Promise((r) => client.once("connect", r));
    broker.send([...publish("a", 1, "one", v === 5), ...publish("a", 2, "two", v === 5)]);
    await tick();
    assert.deepEqual(got, [1, 2], `MQTT ${v}: both delivered`);
    assert.deepEqual(broker.packetTypes(), [], `MQTT ${v}: no PUBACK sent by mqtt.js`);
    await new Promise((r) => client.end(true, {}, () => r(undefined)));
    duplex.destroy();
  }
});

Deno.test("MqttConnection: decoded PUBLISHes reach onMessage in order, those that came with the CONNACK after it, and PUBACKs go out on ack()", async () => {
  for (const v of [4, 5] as const) {
    const broker = new ScriptedBroker((bytes, b) => {
      // A persistent session's messages in the same read as the CONNACK.
      if (bytes[0] === 0x10) {
        b.send([...(v === 5 ? CONNACK_5 : CONNACK_3), ...publish("a", 1, "one", v === 5)]);
      }
    });
    const got: IncomingMessage[] = [];
    let openWhenFirst: boolean | undefined;
    const conn = await MqttConnection.open({
      label: "test",
      transport: () => Promise.resolve(broker),
      clientId: "inbound",
      protocolVersion: v,
      clean: false,
      keepaliveSeconds: 60,
      connectTimeoutMs: 2_000,
      onMessage: (m, c) => {
        openWhenFirst ??= c.isOpen;
        got.push(m);
      },
    });
    broker.send([...publish("a", 2, "two", v === 5), ...publish("a", 3, "three", v === 5)]);
    await tick();
    assert.deepEqual(got.map((m) => m.messageId), [1, 2, 3], `MQTT ${v}: in order`);
    assert.equal(openWhenFirst, true, `MQTT ${v}: the first one after the CONNACK`);
    assert.deepEqual(new TextDecoder().decode(got[2].payload), "three");
    assert.deepEqual(broker.packetTypes(), [], `MQTT ${v}: no PUBACK before ack()`);
    conn.ack(2);
    await tick();
    assert.deepEqual(broker.written.at(-1), [0x40, 2, 0, 2], `MQTT ${v}: our PUBACK for 2`);
    await conn.end();
  }
});

Deno.test("mqtt.js contract 2: mqtt-packet takes its debug() from the debug module once, when it loads", () => {
  // _quiet_debug.ts replaces the module's export in the CommonJS cache before mqtt-packet loads.
  const fromMqtt = createRequire(import.meta.resolve("mqtt"));
  const fromPacket = createRequire(fromMqtt.resolve("mqtt-packet"));
  const path = fromPacket.resolve("debug");
  const cache = (fromPacket as unknown as { cache: Record<string, unknown> }).cache;
  assert.ok(cache[path], `mqtt-packet requires "debug" (${path})`);
  for (const file of ["parser.js", "writeToStream.js"]) {
    const source = Deno.readTextFileSync(fromMqtt.resolve(`mqtt-packet/${file}`));
    assert.match(source, /require\(['"]debug['"]\)\(['"]mqtt-packet:/, file);
  }
});

Deno.test("mqtt.js contract 3: a CONNACK refusal is an ErrorWithReasonCode, read as reason and return code", async () => {
  const broker = new ScriptedBroker((bytes, b) => {
    if (bytes[0] === 0x10) b.send([0x20, 2, 0, 5]); // not authorized (MQTT 3.1.1)
  });
  await assert.rejects(open(broker, 4), (e: unknown) => {
    assert.ok(e instanceof MqttConnectError, String(e));
    assert.equal(e.reason, "refused");
    assert.equal(e.returnCode, 5);
    assert.equal(e.message, "test broker: connection refused: not authorized (code 5)");
    return true;
  });
});

Deno.test("MqttConnection: an MQTT 5 PUBACK refusal is a refused publish; a publish after the end a lost one", async () => {
  const broker = new ScriptedBroker((bytes, b) => {
    if (bytes[0] === 0x10) b.send(CONNACK_5);
    if ((bytes[0] & 0xf0) === 0x30) {
      const id = (bytes[5] << 8) | bytes[6]; // topic "t": 2 + 1 bytes after the 2-byte header
      b.send([0x40, 3, id >> 8, id & 0xff, 0x87]); // 0x87 not authorized
    }
  });
  const conn = await open(broker, 5);
  const error = await new Promise<MqttPublishError | undefined>((resolve) =>
    conn.publish("t", "x", { qos: 1, retain: false }, resolve)
  );
  assert.ok(error instanceof MqttPublishError, String(error));
  assert.equal(error.reason, "refused");
  assert.equal(error.reasonCode, 0x87);
  await conn.end();
  const late = await new Promise<MqttPublishError | undefined>((resolve) =>
    conn.publish("t", "x", { qos: 1, retain: false }, resolve)
  );
  assert.equal(late?.reason, "connection-lost");
});

Deno.test("mqtt.js contract 5: mqtt.js takes SUBSCRIBE identifiers from messageIdProvider and gives them back on SUBACK", async () => {
  const ids = new PacketIds();
  const broker = new ScriptedBroker((bytes, b) => {
    if (bytes[0] === 0x10) b.send(CONNACK_3);
    if (bytes[0] === 0x82) b.send([0x90, 3, bytes[2], bytes[3], 1]); // SUBACK, same id
  });
  const duplex = transportDuplex(broker);
  const client = new MqttClient(() => duplex, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    log: () => {},
    messageIdProvider: ids,
  });
  await new Promise((r) => client.once("connect", r));
  assert.equal(ids.allocate(), 1, "ours first");
  const granted = await client.subscribeAsync("t", { qos: 1 });
  assert.equal(granted[0].qos, 1);
  const subscribe = broker.written.find((w) => w[0] === 0x82)!;
  assert.equal((subscribe[2] << 8) | subscribe[3], 2, "mqtt.js took the next one from us");
  assert.equal(ids.size, 1, "and gave it back on SUBACK (ours still in use)");
  await new Promise((r) => client.end(true, {}, () => r(undefined)));
  duplex.destroy();
});

Deno.test("MqttConnection: end() sends DISCONNECT only after the PUBACKs of our PUBLISHes", async () => {
  let release!: () => void;
  const acked = new Promise<void>((r) => release = r);
  const broker = new ScriptedBroker((bytes, b) => {
    if (bytes[0] === 0x10) b.send(CONNACK_3);
    if ((bytes[0] & 0xf0) === 0x30) {
      const id = (bytes[5] << 8) | bytes[6];
      acked.then(() => b.send([0x40, 2, id >> 8, id & 0xff]));
    }
  });
  const conn = await open(broker, 4);
  const done = new Promise<MqttPublishError | undefined>((resolve) =>
    conn.publish("t", "x", { qos: 1, retain: false }, resolve)
  );
  const ended = conn.end(5_000);
  await tick();
  assert.deepEqual(broker.packetTypes(), [0x30], "no DISCONNECT while the PUBACK is due");
  release();
  assert.equal(await done, undefined);
  await ended;
  assert.deepEqual(broker.packetTypes(), [0x30, 0xe0], "DISCONNECT after the PUBACK");
});
