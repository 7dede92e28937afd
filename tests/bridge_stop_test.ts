/**
 * A clean stop (SIGTERM) takes seconds even when a broker has stopped answering: issue 5 asks
 * for "wait up to a few seconds for in-flight acks", not for a keepalive timeout (90 s with
 * thin-edge's default of 60 s) on a stalled connection.
 */
import assert from "node:assert/strict";
import { tcpTransport } from "../src/mqtt/mod.ts";
import { setLogSink } from "../src/log.ts";
import { BridgeEnv, eventually, Inbox } from "./bridge_fixture.ts";
import { HoldingProxy, MqttTap, PacketType } from "./bridge_proxy.ts";

/** stop() waits `shutdownGraceMs`, then up to 2 s for the final messages and 2 s per end. */
const STOP_LIMIT_MS = 8_000;

Deno.test("bridge stops within seconds while the local broker withholds its SUBACK", async () => {
  const previousSink = setLogSink(() => {});
  await using env = await BridgeEnv.create();
  await using tap = MqttTap.start(env.local.port, { holdSubacks: true });
  const options = await env.bridgeOptions();
  const bridge = await env.startBridge({
    local: { ...options.local, transport: tcpTransport({ hostname: "127.0.0.1", port: tap.port }) },
  });
  try {
    await eventually(() => tap.heldSubacks === 1, "the local SUBACK held");
    const started = Date.now();
    assert.ok(await settlesWithin(bridge.stop(), STOP_LIMIT_MS), "stop() returned in time");
    console.log(`stopped in ${Date.now() - started} ms with the SUBACK withheld`);
    // Not even health down on a connection whose gate never opened: the last will says it.
    assert.equal(tap.count(PacketType.PUBLISH, false), 0);
    const watcher = await env.localClient("health-watcher");
    try {
      const health = new Inbox(watcher);
      await watcher.subscribeAsync(env.profile.healthTopic, { qos: 1 });
      await health.waitFor((m) => m.payload === '{"status":"down"}', "health down (last will)");
    } finally {
      await watcher.endAsync();
    }
  } finally {
    await tap.release(); // unblocks a stop() that did not return in time
    await bridge.stop();
    setLogSink(previousSink);
  }
});

Deno.test("bridge stops within seconds while the cloud withholds its PUBACKs", async () => {
  const previousSink = setLogSink(() => {});
  await using env = await BridgeEnv.create();
  await using proxy = HoldingProxy.start(env.cloud.port);
  const device = await env.localClient("device-app");
  const cloudApp = await env.cloudClient("cloud-app");
  const cloudInbox = new Inbox(cloudApp);
  await cloudApp.subscribeAsync("s/us", { qos: 1 });
  const bridge = await env.startBridge({ cloudPort: proxy.port, shutdownGraceMs: 200 });
  let second: Awaited<ReturnType<typeof env.startBridge>> | undefined;
  try {
    await eventually(() => bridge.up, "bridge up");
    proxy.hold(); // the cloud path stalls: nothing the bridge sends arrives any more
    for (let i = 0; i < 5; i++) await device.publishAsync("c8y/s/us", `m${i}`, { qos: 1 });
    await eventually(() => bridge.stats.pendingToCloud === 5, "5 messages in flight");
    await eventually(() => proxy.heldBytes > 0, "the messages held on the way");
    const started = Date.now();
    assert.ok(await settlesWithin(bridge.stop(), STOP_LIMIT_MS), "stop() returned in time");
    console.log(`stopped in ${Date.now() - started} ms with the cloud stalled`);
    proxy.dropAll();

    // Nothing was acked at the local broker: the next run forwards all five.
    second = await env.startBridge();
    for (let i = 0; i < 5; i++) {
      await cloudInbox.waitFor((m) => m.payload === `m${i}`, `m${i} after the restart`);
    }
  } finally {
    proxy.dropAll(); // unblocks a stop() that did not return in time
    await bridge.stop();
    await second?.stop();
    await Promise.all([device.endAsync(), cloudApp.endAsync()]);
    setLogSink(previousSink);
  }
});

/** Whether `promise` settled within `ms` (it keeps running either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
