/**
 * The subscription gate (COMPAT.md section 3): after a connect without a stored session,
 * nothing is published to a broker until its SUBACKs have arrived. An MQTT-aware proxy in
 * front of that broker holds the SUBACK back while messages wait to be forwarded to it, and
 * records every packet the bridge sends: no PUBLISH may pass before the SUBACK is released.
 *
 * The gate lives in the bridge's sides, whatever the transport, so the cloud case runs over
 * plain TCP (a proxy cannot read MQTT inside TLS).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { healthPayload } from "../src/bridge/mod.ts";
import { tcpTransport } from "../src/mqtt/mod.ts";
import { setLogSink } from "../src/log.ts";
import { BridgeEnv, eventually, Inbox, sleep, UP_102 as UP } from "./bridge_fixture.ts";
import { MqttTap, PacketType } from "./bridge_proxy.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";

/** Messages waiting for the gate (within mosquitto's default 3.1.1 in-flight window of 20). */
const N = 10;
/** Time for a PUBLISH the bridge should not send to reach the proxy. */
const SETTLE_MS = 300;

Deno.test("bridge publishes nothing to the cloud broker before its SUBACK", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create();
  await Deno.mkdir(`${env.dir}/plain-cloud`);
  await using cloud = await Mosquitto.start({ dir: `${env.dir}/plain-cloud` });
  await using tap = MqttTap.start(cloud.port, { holdSubacks: true });
  const cloudApp = await mqtt.connectAsync(cloud.url, {
    clientId: "cloud-app",
    reconnectPeriod: 0,
  });
  const device = await env.localClient("device-app");
  const cloudInbox = new Inbox(cloudApp);
  const localInbox = new Inbox(device);
  await cloudApp.subscribeAsync("s/us", { qos: 1 });
  await device.subscribeAsync(env.profile.healthTopic, { qos: 1 });
  const options = await env.bridgeOptions();
  const bridge = await env.startBridge({
    cloud: { ...options.cloud, transport: tcpTransport({ hostname: "127.0.0.1", port: tap.port }) },
  });
  try {
    // The local side is up (health down: no cloud yet); the cloud's SUBACK is held.
    await localInbox.waitFor((m) => m.payload === healthPayload(false), "health down");
    await eventually(() => tap.heldSubacks === 1, "the cloud SUBACK held");
    for (let i = 0; i < N; i++) await device.publishAsync("c8y/s/us", `m${i}`, { qos: 1 });
    await eventually(() => bridge.stats.pendingToCloud === N, `${N} messages waiting`);
    await sleep(SETTLE_MS);
    assert.equal(tap.count(PacketType.SUBSCRIBE, false), 1, "subscribed before the release");
    assert.equal(tap.count(PacketType.PUBLISH, false), 0, "no PUBLISH before the SUBACK");
    assert.equal(cloudInbox.messages.length, 0, "nothing at the cloud");
    assert.ok(lines.some((l) => /Connected to the cloud broker session_present=false/.test(l)));

    await tap.release();
    await eventually(() => cloudInbox.messages.length === N + 1, "102 up and the messages");
    assert.deepEqual(cloudInbox.messages.map((m) => m.payload), [
      UP,
      ...Array.from({ length: N }, (_, i) => `m${i}`),
    ]);
    assert.equal(tap.count(PacketType.PUBLISH, true), N + 1);
    await localInbox.waitFor((m) => m.payload === healthPayload(true), "health up");
  } finally {
    await tap.release(); // a failed assertion must not leave the bridge waiting for a SUBACK
    await bridge.stop();
    await Promise.all([cloudApp.endAsync(), device.endAsync()]);
    setLogSink(previousSink);
  }
});

Deno.test("bridge publishes nothing to the local broker before its SUBACK", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create();
  await using tap = MqttTap.start(env.local.port, { holdSubacks: true });
  const cloudApp = await env.cloudClient("cloud-app");
  const device = await env.localClient("device-app");
  const cloudInbox = new Inbox(cloudApp);
  const localInbox = new Inbox(device);
  await cloudApp.subscribeAsync("s/us", { qos: 1 });
  await device.subscribeAsync(["c8y/s/ds", env.profile.healthTopic], { qos: 1 });
  const options = await env.bridgeOptions();
  const bridge = await env.startBridge({
    local: { ...options.local, transport: tcpTransport({ hostname: "127.0.0.1", port: tap.port }) },
  });
  try {
    // The cloud side is up (its 102 message came); the local SUBACK is held.
    await cloudInbox.waitFor((m) => m.payload === UP, "102 up");
    await eventually(() => tap.heldSubacks === 1, "the local SUBACK held");
    for (let i = 0; i < N; i++) await cloudApp.publishAsync("s/ds", `m${i}`, { qos: 1 });
    await eventually(() => bridge.stats.pendingToLocal === N, `${N} messages waiting`);
    await sleep(SETTLE_MS);
    assert.equal(tap.count(PacketType.SUBSCRIBE, false), 1, "subscribed before the release");
    assert.equal(tap.count(PacketType.PUBLISH, false), 0, "no PUBLISH (nor health) before SUBACK");
    assert.equal(localInbox.messages.length, 0, "nothing at the device");
    assert.ok(lines.some((l) => /Connected to the local broker session_present=false/.test(l)));

    await tap.release();
    await eventually(() => localInbox.messages.length === N + 1, "the messages and health up");
    assert.deepEqual(
      localInbox.messages.filter((m) => m.topic === "c8y/s/ds").map((m) => m.payload),
      Array.from({ length: N }, (_, i) => `m${i}`),
    );
    assert.deepEqual(
      localInbox.messages.filter((m) => m.topic === env.profile.healthTopic).map((m) => m.payload),
      [healthPayload(true)],
    );
    assert.equal(tap.count(PacketType.PUBLISH, true), N + 1);
  } finally {
    await tap.release(); // a failed assertion must not leave the bridge waiting for a SUBACK
    await bridge.stop();
    await Promise.all([cloudApp.endAsync(), device.endAsync()]);
    setLogSink(previousSink);
  }
});
