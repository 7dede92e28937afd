/**
 * At-least-once delivery under faults, with the bridge library in-process (file key, Deno
 * TLS): 10,000 QoS 1 messages, one broker restarted midway, none missing.
 */
import assert from "node:assert/strict";
import { setLogSink } from "../src/log.ts";
import { BridgeEnv, eventually } from "./bridge_fixture.ts";
import {
  assertMidStream,
  describeLoad,
  loadSubscriber,
  restartMidStream,
  runLoad,
} from "./bridge_load.ts";

for (const which of ["cloud", "local"] as const) {
  Deno.test(`bridge loses no message when the ${which} broker restarts`, async () => {
    const lines: string[] = [];
    const previousSink = setLogSink((l) => lines.push(l));
    await using env = await BridgeEnv.create({ cloudPersistence: true });
    const { client, counts } = await loadSubscriber(env);
    const bridge = await env.startBridge();
    try {
      await eventually(() => bridge.up, "bridge up");
      const broker = which === "cloud" ? env.cloud : env.local;
      const result = await runLoad(env, counts, restartMidStream(broker));
      console.log(describeLoad(`${which} broker restart`, result));
      assert.deepEqual(result.missing, [], describeLoad("missing messages", result));
      assertMidStream(result, { publishing: true });
      const stats = bridge.stats;
      assert.ok(stats[which === "cloud" ? "reconnectsCloud" : "reconnectsLocal"] >= 1);
      assert.equal(stats.droppedToCloud, 0);
      assert.ok(
        lines.some((l) => new RegExp(`Disconnected from the ${which} broker`).test(l)),
        "the disconnect is logged",
      );
    } finally {
      await bridge.stop();
      await client.endAsync(true);
      setLogSink(previousSink);
    }
  });
}

Deno.test("bridge loses no cloud message when the local broker restarts", async () => {
  const previousSink = setLogSink(() => {});
  await using env = await BridgeEnv.create();
  const n = 3_000;
  const subscriber = await env.localClient("device-app", { clean: false, reconnectPeriod: 200 });
  subscriber.on("error", () => {});
  const counts = new Map<number, number>();
  subscriber.on("message", (_t, payload) => {
    const i = Number(payload.toString());
    counts.set(i, (counts.get(i) ?? 0) + 1);
  });
  await subscriber.subscribeAsync("c8y/s/ds", { qos: 1 });
  const cloud = await env.cloudClient("cloud-app");
  const bridge = await env.startBridge();
  try {
    await eventually(() => bridge.up, "bridge up");
    let restart: Promise<void> | undefined;
    let published = 0;
    let faultAt: { published: number; received: number } | undefined;
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < n; i++) {
      if (i === n / 2) {
        restart = (async () => {
          await eventually(() => counts.size > 0, "the first message at the device");
          await env.local.stop("SIGTERM");
          faultAt = { published, received: counts.size };
          await env.local.restart("SIGTERM", 300);
        })();
      }
      const p = cloud.publishAsync("s/ds", String(i), { qos: 1 });
      inFlight.add(p);
      p.then(() => published++, () => {});
      p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 200) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await restart;
    await eventually(() => counts.size === n, `${n} messages at the device`, 60_000)
      .catch(() => {});
    let total = 0;
    for (const c of counts.values()) total += c;
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !counts.has(i));
    console.log(
      `cloud -> local, local broker restart: ${n} sent, ${counts.size} received, ` +
        `${total - counts.size} duplicates, ${missing.length} missing; fault after ` +
        `${faultAt?.published} published, ${faultAt?.received} received`,
    );
    assert.deepEqual(missing, []);
    // Mid-stream: some had crossed, the rest had not all been published nor received.
    assert.ok(faultAt && faultAt.received > 0 && faultAt.received < n, "received mid-stream");
    assert.ok(faultAt.published < n, "the cloud publisher was still going");
    assert.ok(bridge.stats.reconnectsLocal >= 1);
  } finally {
    await bridge.stop();
    await Promise.all([subscriber.endAsync(true), cloud.endAsync()]);
    setLogSink(previousSink);
  }
});
