/**
 * The MQTT layer against a real mosquitto: held PUBACKs, redelivery of exactly the unacked
 * messages, and connect failures that say why.
 */
import assert from "node:assert/strict";
import {
  type IncomingMessage,
  MqttConnectError,
  MqttConnection,
  type MqttConnectionOptions,
  tcpTransport,
} from "../src/mqtt/mod.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { tempDir } from "./helpers/process.ts";
import { freePort } from "./helpers/ports.ts";

function options(
  broker: Mosquitto,
  received: IncomingMessage[],
  extra: Partial<MqttConnectionOptions> = {},
): MqttConnectionOptions {
  return {
    label: "local",
    transport: tcpTransport({ hostname: "127.0.0.1", port: broker.port }),
    clientId: "held-acks",
    protocolVersion: 5,
    clean: false,
    sessionExpirySeconds: 3600,
    receiveMaximum: 100,
    keepaliveSeconds: 60,
    connectTimeoutMs: 5_000,
    onMessage: (m) => received.push(m),
    ...extra,
  };
}

async function publishMany(broker: Mosquitto, topic: string, n: number): Promise<void> {
  const received: IncomingMessage[] = [];
  const pub = await MqttConnection.open(
    options(broker, received, { clientId: "publisher", clean: true, protocolVersion: 4 }),
  );
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) =>
          pub.publish(topic, `m${i}`, { qos: 1, retain: false }, (e) => e ? reject(e) : resolve())
        ),
    ),
  );
  await pub.end();
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const protocolVersion of [5, 4] as const) {
  Deno.test(`MQTT ${protocolVersion === 5 ? "5" : "3.1.1"}: held PUBACKs are redelivered, acked ones are not`, async () => {
    await using dir = await tempDir();
    await using broker = await Mosquitto.start({ dir: dir.path });
    const received: IncomingMessage[] = [];
    const opts = options(broker, received, { protocolVersion });
    let conn = await MqttConnection.open(opts);
    assert.equal(conn.sessionPresent, false);
    assert.deepEqual(await conn.subscribe([{ filter: "t/#", qos: 1 }]), [1]);
    await publishMany(broker, "t/x", 30);
    // MQTT 5 with receive maximum 100: all 30 in flight; MQTT 3.1.1: mosquitto's default
    // window of 20 (max_inflight_messages).
    const window = protocolVersion === 5 ? 30 : 20;
    await waitFor(() => received.length === window, `${window} messages`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, window, "nothing beyond the in-flight window without acks");
    for (const m of received.slice(0, 10)) conn.ack(m.messageId!);
    if (protocolVersion === 4) await waitFor(() => received.length === 30, "the rest");
    await new Promise((r) => setTimeout(r, 100)); // let the PUBACKs reach the broker
    conn.destroy("test drops the connection");
    assert.match(await conn.closed, /test drops the connection/);

    received.length = 0;
    conn = await MqttConnection.open(opts);
    assert.equal(conn.sessionPresent, true);
    await waitFor(() => received.length === 20, "redelivery");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 20, "exactly the 20 unacked messages come again");
    assert.deepEqual(
      received.map((m) => new TextDecoder().decode(m.payload)),
      Array.from({ length: 20 }, (_, i) => `m${i + 10}`),
    );
    assert.ok(received.every((m) => m.dup));
    for (const m of received) conn.ack(m.messageId!);
    await conn.end();
    assert.match(await conn.closed, /disconnected by the bridge/);
  });
}

Deno.test("MqttConnection.open() says why it failed: refused port, refused CONNACK, timeout", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const base = {
    label: "cloud",
    transport: tcpTransport({ hostname: "127.0.0.1", port }),
    clientId: "x",
    protocolVersion: 4 as const,
    clean: true,
    keepaliveSeconds: 60,
    connectTimeoutMs: 2_000,
    onMessage: () => {},
  };
  await assert.rejects(
    () => MqttConnection.open(base),
    (e: unknown) =>
      e instanceof MqttConnectError && e.code === "ECONNREFUSED" &&
      e.reason === "transport" && e.returnCode === undefined &&
      /^cloud broker: .*refused/i.test(e.message),
  );

  // A broker that knows no users: every CONNECT is refused with "not authorized".
  await Deno.writeTextFile(`${dir.path}/no-users`, "");
  await using broker = await Mosquitto.start({
    dir: dir.path,
    extra: ["allow_anonymous false", `password_file ${dir.path}/no-users`],
  });
  await assert.rejects(
    () =>
      MqttConnection.open({
        ...base,
        transport: tcpTransport({ hostname: "127.0.0.1", port: broker.port }),
      }),
    (e: unknown) =>
      e instanceof MqttConnectError && e.reason === "refused" && e.returnCode === 5 &&
      /^cloud broker: connection refused: not authorized \(code 5\)$/.test(e.message),
  );

  // A listener that accepts TCP but never answers MQTT.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  (async () => {
    for await (const c of silent) accepted.push(c);
  })().catch(() => {});
  try {
    const started = Date.now();
    await assert.rejects(
      () =>
        MqttConnection.open({
          ...base,
          connectTimeoutMs: 300,
          transport: tcpTransport({
            hostname: "127.0.0.1",
            port: (silent.addr as Deno.NetAddr).port,
          }),
        }),
      (e: unknown) =>
        e instanceof MqttConnectError && e.reason === "timeout" &&
        /no CONNACK within/.test(e.message),
    );
    assert.ok(Date.now() - started < 2_000);
  } finally {
    silent.close();
    for (const c of accepted) c.close();
  }
});
