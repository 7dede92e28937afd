/**
 * `hsm-bridge run` (a separate process, file key or SoftHSM token key, our TLS client) under
 * faults, 10,000 QoS 1 messages each time, none may be missing:
 *
 * - the cloud broker restarts midway;
 * - the local broker restarts midway;
 * - the bridge process is killed with SIGKILL midway and started again (the local broker
 *   kept the unacked messages in the bridge's persistent session).
 *
 * The cloud connection goes through a proxy that, just before the kill, holds back what the
 * bridge sends and then drops it: messages in flight are lost on the way, as when a device
 * dies. Only a bridge that acks the local broker after the cloud's PUBACK passes.
 */
import assert from "node:assert/strict";
import { healthPayload } from "../src/bridge/mod.ts";
import { BridgeEnv, eventually, Inbox, type KeyKind, RunDevice } from "./bridge_fixture.ts";
import {
  assertMidStream,
  describeLoad,
  loadSubscriber,
  restartMidStream,
  runLoad,
} from "./bridge_load.ts";
import { HoldingProxy } from "./bridge_proxy.ts";
import type { TestProcess } from "./helpers/process.ts";

for (const kind of ["file", "softhsm"] as KeyKind[]) {
  Deno.test(`run loses no message when its process is killed and restarted (${kind} key)`, async () => {
    await using env = await BridgeEnv.create();
    await using proxy = HoldingProxy.start(env.cloud.port);
    const device = await RunDevice.create(env, kind, {
      "c8y.mqtt": `"127.0.0.1:${proxy.port}"`,
    });
    const { client, counts } = await loadSubscriber(env);
    const watcher = await env.localClient("health-watcher");
    const health = new Inbox(watcher);
    await watcher.subscribeAsync(env.profile.healthTopic, { qos: 1 });
    const last = () =>
      health.messages.filter((m) => m.topic === env.profile.healthTopic).at(-1)?.payload;
    let bridge: TestProcess = device.start();
    try {
      await eventually(() => last() === healthPayload(true), "health up", 20_000);
      let lostBytes = 0;
      const result = await runLoad(env, counts, async (progress) => {
        await progress.flowing();
        proxy.hold();
        await eventually(() => proxy.heldBytes > 20_000, "messages held on the way");
        lostBytes = proxy.heldBytes; // (at least: more may be held by the time of the kill)
        await bridge.stop("SIGKILL");
        progress.mark();
        proxy.dropAll();
        // The local broker publishes the bridge's last will: health down.
        await eventually(() => last() === healthPayload(false), "health down (last will)");
        bridge = device.start();
      });
      console.log(
        describeLoad(`bridge process SIGKILL (${kind} key)`, result) +
          `; ${lostBytes} bytes lost on the way`,
      );
      assert.deepEqual(result.missing, [], describeLoad("missing messages", result));
      assertMidStream(result); // the kill happened mid-stream
      await eventually(() => last() === healthPayload(true), "health up again");
      assert.match(bridge.output, /Connected to the local broker session_present=true/);
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
      await Promise.all([client.endAsync(true), watcher.endAsync()]);
    }
  });
}

for (const kind of ["file", "softhsm"] as KeyKind[]) {
  for (const which of ["cloud", "local"] as const) {
    Deno.test(`run loses no message when the ${which} broker restarts (${kind} key)`, async () => {
      await using env = await BridgeEnv.create({ cloudPersistence: true });
      const device = await RunDevice.create(env, kind);
      const { client, counts } = await loadSubscriber(env);
      const bridge = device.start();
      try {
        await bridge.waitForOutput(/Health up/, 20_000);
        const broker = which === "cloud" ? env.cloud : env.local;
        const result = await runLoad(env, counts, restartMidStream(broker));
        console.log(describeLoad(`${which} broker restart (${kind} key)`, result));
        assert.deepEqual(result.missing, [], describeLoad("missing messages", result));
        assertMidStream(result, { publishing: true });
        await bridge.waitForOutput(new RegExp(`Disconnected from the ${which} broker`));
        assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        await bridge.stop("SIGKILL");
        await client.endAsync(true);
      }
    });
  }
}
