/**
 * At-least-once delivery under faults, with the bridge library in-process (file key, Deno
 * TLS): 10,000 QoS 1 messages, one broker restarted midway, none missing.
 */
import assert from "node:assert/strict";
import { setLogSink } from "../src/log.ts";
import { BridgeEnv, eventually } from "./bridge_fixture.ts";
import { describeLoad, loadSubscriber, runLoad } from "./bridge_load.ts";

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
      const result = await runLoad(env, counts, () => broker.restart("SIGTERM", 300));
      console.log(describeLoad(`${which} broker restart`, result));
      assert.deepEqual(result.missing, [], describeLoad("missing messages", result));
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
