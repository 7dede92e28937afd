/**
 * The bridge library with a file key (Deno TLS) between a local mosquitto and a TLS 1.3
 * mutual-auth "cloud" mosquitto: what crosses, what does not, health and service messages.
 */
import assert from "node:assert/strict";
import {
  Bridge,
  BridgeRule,
  ConnectBlockedError,
  healthDownPayload,
  healthPayload,
} from "../src/bridge/mod.ts";
import { setLogSink } from "../src/log.ts";
import { BridgeEnv, DEVICE_ID, eventually, Inbox, sleep, UP_102 as UP } from "./bridge_fixture.ts";

const DOWN = UP.replace(/up$/, "down");

Deno.test("bridge forwards the Cumulocity topics both ways and nothing else", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create();
  const cloud = await env.cloudClient("cloud-app");
  const local = await env.localClient("device-app");
  const bridge = await env.startBridge({
    // A rule whose filter also matches its prefix's parent level: "c8y/mqtt/out" reaches the
    // bridge but has no cloud topic, so it must be acked and dropped with a warning.
    extraRules: [BridgeRule.of("#", "outbound", "c8y/mqtt/out/", "mqtt/")],
  });
  try {
    const cloudInbox = new Inbox(cloud);
    const localInbox = new Inbox(local);
    await cloud.subscribeAsync(["s/us", "measurement/#", "inventory/#", "mqtt/#"], { qos: 1 });
    await local.subscribeAsync(["c8y/#", "te/#"], { qos: 1 });

    // Health up, and the 102 message on the cloud (on every CONNACK).
    await localInbox.waitFor(
      (m) => m.topic === env.profile.healthTopic && m.payload === healthPayload(true),
      "health up",
    );
    assert.equal(
      env.profile.healthTopic,
      "te/device/main/service/tedge-mapper-bridge-c8y/status/health",
    );
    await cloudInbox.waitFor((m) => m.topic === "s/us" && m.payload === UP, "102 up");

    // Local -> cloud: QoS 1 and QoS 0, with the retain flag kept.
    await local.publishAsync("c8y/s/us", "200,temp,T,21.5", { qos: 1 });
    await local.publishAsync("c8y/measurement/measurements/create", '{"c8y_T":{}}', { qos: 0 });
    await local.publishAsync("c8y/inventory/managedObjects/update/child1", '{"x":1}', {
      qos: 1,
      retain: true,
    });
    await local.publishAsync("c8y/unmapped/topic", "must not cross", { qos: 1 });
    await local.publishAsync("c8y/mqtt/out", "parent level: no cloud topic", { qos: 1 });
    await local.publishAsync("c8y/mqtt/out/custom", "custom", { qos: 1 });
    await cloudInbox.waitFor((m) => m.payload === "200,temp,T,21.5", "s/us message");
    await cloudInbox.waitFor(
      (m) => m.topic === "measurement/measurements/create" && m.qos === 0,
      "measurement (QoS 0)",
    );
    await cloudInbox.waitFor((m) => m.topic === "mqtt/custom", "custom rule");
    const late = await env.cloudClient("late-subscriber");
    try {
      const lateInbox = new Inbox(late);
      await late.subscribeAsync("inventory/managedObjects/update/child1", { qos: 1 });
      const retained = await lateInbox.waitFor(() => true, "retained inventory update");
      assert.equal(retained.retain, true);
    } finally {
      await late.endAsync();
    }

    // Cloud -> local, including the SmartREST template topic.
    await cloud.publishAsync("s/ds", "510,hsm-bridge-test-device", { qos: 1 });
    await cloud.publishAsync("s/dc/tmpl1", "tmpl1 response", { qos: 1 });
    await cloud.publishAsync("s/dc/unknown-template", "must not cross", { qos: 1 });
    await cloud.publishAsync("devicecontrol/notifications", '{"id":"1"}', { qos: 0 });
    await localInbox.waitFor((m) => m.topic === "c8y/s/ds", "s/ds on c8y/s/ds");
    await localInbox.waitFor((m) => m.topic === "c8y/s/dc/tmpl1", "template topic");
    await localInbox.waitFor(
      (m) => m.topic === "c8y/devicecontrol/notifications",
      "devicecontrol notification",
    );

    await eventually(() => bridge.stats.droppedToCloud === 1, "the parent-level drop");
    await sleep(300); // time for anything that should not cross to show up
    assert.ok(!cloudInbox.has((m) => m.payload === "must not cross"), "unmapped local topic");
    assert.ok(!localInbox.has((m) => m.topic.startsWith("c8y/s/dc/unknown")), "unknown template");
    assert.ok(
      lines.some((l) =>
        /WARN .*Message dropped \(local -> cloud\): no bridge rule matches the topic topic=c8y\/mqtt\/out/
          .test(l)
      ),
      "the drop is logged with the reason",
    );
    const stats = bridge.stats;
    assert.equal(stats.forwardedToCloud, 4); // s/us, measurement, inventory, mqtt/custom
    assert.equal(stats.forwardedToLocal, 3);
    assert.equal(stats.pendingToCloud + stats.pendingToLocal, 0);
  } finally {
    await bridge.stop();
    await Promise.all([cloud.endAsync(), local.endAsync()]);
    setLogSink(previousSink);
  }
});

Deno.test("bridge health goes down with the cloud, up again, and down on a clean stop", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create();
  const local = await env.localClient("health-watcher");
  const bridge = await env.startBridge();
  try {
    const health = new Inbox(local);
    await local.subscribeAsync(env.profile.healthTopic, { qos: 1 });
    // The first state may be "down" (local connected before the cloud); count from "up".
    const states = () => {
      const all = health.messages.filter((m) => m.topic === env.profile.healthTopic)
        .map((m) => m.payload);
      return all.slice(all.indexOf(healthPayload(true)));
    };
    await health.waitFor((m) => m.payload === healthPayload(true), "health up");

    // The cloud goes away: health down (the local side stays connected).
    await env.cloud.stop();
    await eventually(() => states().at(-1) === healthPayload(false), "health down");
    assert.ok(!bridge.up);
    // Messages published meanwhile wait, unacked, and cross when the cloud is back.
    await local.publishAsync("c8y/s/us", "while the cloud is down", { qos: 1 });
    await env.cloud.restart();
    await eventually(() => states().at(-1) === healthPayload(true), "health up again", 15_000);
    const cloud = await env.cloudClient("cloud-app");
    const cloudInbox = new Inbox(cloud);
    // Clean session: a subscriber that was not there does not get the past message, so
    // check the bridge's counter instead, then a fresh message end to end.
    await eventually(() => bridge.stats.forwardedToCloud === 1, "the waiting message");
    await cloud.subscribeAsync("s/us", { qos: 1 });
    await local.publishAsync("c8y/s/us", "after", { qos: 1 });
    await cloudInbox.waitFor((m) => m.payload === "after", "a message after the restart");

    // Clean stop: health down (retained) locally, 102 down to the cloud.
    await bridge.stop();
    await eventually(() => states().at(-1) === healthPayload(false), "health down on stop");
    await cloudInbox.waitFor((m) => m.payload === DOWN, "102 down");
    await cloud.endAsync();
    // Published only on change: up, down, up, down.
    assert.deepEqual(states(), [true, false, true, false].map(healthPayload));
    assert.ok(lines.some((l) => /WARN .*Disconnected from the cloud broker reason=/.test(l)));
    assert.ok(lines.some((l) => /INFO .*Connected to the cloud broker/.test(l)));
    assert.ok(lines.some((l) => /INFO .*Bridge counters forwarded_to_cloud=2/.test(l)));
  } finally {
    await bridge.stop();
    await local.endAsync();
    setLogSink(previousSink);
  }
});

Deno.test("bridge health reads down while the local broker restarts, then up; the cloud stays", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create(); // the local broker persists (sessions, retained)
  // A persistent session: what the broker publishes to it while it stops (the bridge's last
  // will) is kept for it across the restart.
  const watcher = await env.localClient("health-watcher", { clean: false, reconnectPeriod: 100 });
  watcher.on("error", () => {}); // reconnects on its own
  const cloud = await env.cloudClient("cloud-app");
  const health = new Inbox(watcher);
  const cloudInbox = new Inbox(cloud);
  await watcher.subscribeAsync(env.profile.healthTopic, { qos: 1 });
  await cloud.subscribeAsync("s/us", { qos: 1 });
  const bridge = await env.startBridge();
  try {
    await health.waitFor((m) => m.payload === healthPayload(true), "health up");
    await cloudInbox.waitFor((m) => m.payload === UP, "102 up");
    const before = health.messages.length;
    const states = () => health.messages.slice(before).map((m) => m.payload);

    await env.local.stop(); // SIGTERM: mosquitto publishes the wills of its clients, then saves
    await eventually(() => !bridge.up, "the bridge sees the local broker gone");
    await env.local.restart();
    await eventually(() => states().at(-1) === healthPayload(true), "health up again", 15_000);
    assert.equal(states()[0], healthPayload(false), `down first, then up: ${states()}`);
    const late = await env.localClient("late-reader");
    try {
      const inbox = new Inbox(late);
      await late.subscribeAsync(env.profile.healthTopic, { qos: 1 });
      const retained = await inbox.waitFor(() => true, "the retained health");
      assert.deepEqual([retained.payload, retained.retain], [healthPayload(true), true]);
    } finally {
      await late.endAsync();
    }

    // The cloud connection lived through it: one CONNECT, one 102 up, no last will.
    assert.ok(bridge.stats.reconnectsLocal >= 1);
    assert.equal(bridge.stats.reconnectsCloud, 0);
    assert.equal(
      env.cloud.log.match(new RegExp(`connected from \\S+ as ${DEVICE_ID} `, "g"))?.length,
      1,
    );
    assert.deepEqual(cloudInbox.messages.map((m) => m.payload), [UP]);
    assert.ok(lines.some((l) => /WARN .*Disconnected from the local broker/.test(l)));
    assert.ok(!lines.some((l) => /Disconnected from the cloud broker/.test(l)));
  } finally {
    await bridge.stop();
    await Promise.all([watcher.endAsync(true), cloud.endAsync()]);
    setLogSink(previousSink);
  }
});

Deno.test("bridge does not loop messages on a bidirectional rule", async () => {
  await using env = await BridgeEnv.create();
  const cloud = await env.cloudClient("cloud-app");
  const local = await env.localClient("device-app");
  const bridge = await env.startBridge({
    extraRules: [BridgeRule.of("both/#", "bidirectional", "c8y/")],
  });
  try {
    const cloudInbox = new Inbox(cloud);
    const localInbox = new Inbox(local);
    await cloud.subscribeAsync("both/#", { qos: 1 });
    await local.subscribeAsync("c8y/both/#", { qos: 1 });
    await eventually(() => bridge.up, "bridge up");
    await local.publishAsync("c8y/both/up", "from the device", { qos: 1 });
    await cloud.publishAsync("both/down", "from the cloud", { qos: 1 });
    await cloudInbox.waitFor((m) => m.topic === "both/up", "local -> cloud");
    await localInbox.waitFor((m) => m.topic === "c8y/both/down", "cloud -> local");
    await sleep(500); // time for a loop to show
    const count = (inbox: Inbox, payload: string) =>
      inbox.messages.filter((m) => m.payload === payload).length;
    assert.equal(count(cloudInbox, "from the device"), 1);
    assert.equal(count(localInbox, "from the device"), 1, "no echo back to the device");
    assert.equal(count(cloudInbox, "from the cloud"), 1, "no echo back to the cloud");
    assert.equal(count(localInbox, "from the cloud"), 1);
    assert.equal(bridge.stats.echoesDropped, 1, "the cloud's echo of our publish");
    assert.equal(bridge.stats.forwardedToCloud, 1);
    assert.equal(bridge.stats.forwardedToLocal, 1);
  } finally {
    await bridge.stop();
    await Promise.all([cloud.endAsync(), local.endAsync()]);
  }
});

Deno.test("bridge stops with the error when reconnecting meets a credential error", async () => {
  await using env = await BridgeEnv.create();
  let attempts = 0;
  const options = await env.bridgeOptions();
  const bridge = new Bridge({
    ...options,
    cloud: {
      ...options.cloud,
      transport: () => {
        attempts++;
        return Promise.reject(
          Object.assign(new Error('Wrong PIN for token "edge"'), { kind: "credential" }),
        );
      },
    },
  });
  bridge.start();
  await assert.rejects(() => bridge.failed, /Wrong PIN for token "edge"/);
  await bridge.stop();
  assert.equal(attempts, 1, "never retried");
});

Deno.test("bridge keeps trying a blocked cloud side quietly, health down with the reason, then up", async () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  await using env = await BridgeEnv.create();
  const watcher = await env.localClient("health-watcher");
  const health = new Inbox(watcher);
  await watcher.subscribeAsync(env.profile.healthTopic, { qos: 1 });
  const options = await env.bridgeOptions();
  let attempts = 0;
  const reason = 'PIN locked for token "edge": C_Login returned CKR_PIN_LOCKED';
  const bridge = new Bridge({
    ...options,
    cloud: {
      ...options.cloud,
      transport: (signal) =>
        ++attempts <= 3
          ? Promise.reject(new ConnectBlockedError(reason))
          : options.cloud.transport(signal),
    },
  });
  bridge.start();
  try {
    await health.waitFor((m) => m.payload === healthDownPayload(reason), "down with the reason");
    await health.waitFor((m) => m.payload === healthPayload(true), "up", 15_000);
    assert.equal(attempts, 4, "retried at the backoff until it went through");
    const states = health.messages.map((m) => m.payload);
    assert.deepEqual(states.slice(states.indexOf(healthDownPayload(reason))), [
      healthDownPayload(reason),
      healthPayload(true),
    ]);
    // Whoever blocks logs why; the side does not repeat it on every attempt.
    assert.ok(!lines.some((l) => /WARN .*Cannot connect to the cloud broker/.test(l)));
  } finally {
    await bridge.stop();
    await watcher.endAsync();
    setLogSink(previousSink);
  }
});
