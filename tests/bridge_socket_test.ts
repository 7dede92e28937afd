/**
 * `hsm-bridge run` in socket mode when hsm-bridge p11-server goes away: the cloud connection
 * is retried on the bridge's backoff, with the reason, until the server is back; a PIN the
 * server's token refuses stops the bridge (exit 78) instead of retrying it.
 */
import assert from "node:assert/strict";
import { BridgeEnv, Inbox, RunDevice, sleep, UP_102 as UP } from "./bridge_fixture.ts";
import { startP11ServerProcess } from "./helpers/p11_server.ts";

Deno.test("run in socket mode reconnects on its backoff while p11-server is down, and stops on a refused PIN", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "socket");
  const { socketPath } = device.p11!;
  const cloud = await env.cloudClient("cloud-app");
  const cloudInbox = new Inbox(cloud);
  await cloud.subscribeAsync(["s/us"], { qos: 1 });
  const bridge = device.start();
  try {
    await cloudInbox.waitFor((m) => m.payload === UP, "102 up", 20_000);

    // The server stops (its socket goes with it), then the cloud drops the bridge.
    await device.p11!.server.stop("SIGTERM");
    await env.cloud.restart();
    const failure =
      /Cannot connect to the cloud broker[^\n]*failed: Cannot connect to tedge-p11-server at [^\n]*there is no socket at that path/g;
    await bridge.waitForOutput(failure, 20_000);
    await sleep(1_500);
    assert.ok((bridge.output.match(failure) ?? []).length >= 2, "retried on its backoff");
    assert.ok(bridge.running, "the bridge keeps running without its server");

    // Back: the next attempt connects.
    // (The broker restart dropped the test's own client: watch with a new one.)
    const watcher = await env.cloudClient("watcher");
    const watched = new Inbox(watcher);
    await watcher.subscribeAsync(["s/us"], { qos: 1 });
    const server = await startP11ServerProcess(device.hsm!, socketPath);
    env.atDispose.push(() => server.stop("SIGKILL"));
    await watched.waitFor((m) => m.payload === UP, "102 up after the server is back", 20_000);
    await watcher.endAsync();

    // The server comes back with a PIN the token refuses: one refusal, and the bridge stops.
    await server.stop("SIGTERM");
    const wrong = await startP11ServerProcess(device.hsm!, socketPath, { pin: "000000" });
    env.atDispose.push(() => wrong.stop("SIGKILL"));
    await env.cloud.restart();
    const status = await Promise.race([bridge.exited, sleep(30_000).then(() => undefined)]);
    assert.ok(status, `the bridge did not stop:\n${bridge.output}`);
    assert.equal(status.code, 78, bridge.output);
    assert.match(bridge.output, /Wrong PIN for token "edge"/);
    assert.doesNotMatch(bridge.output + wrong.output, /000000/);
    assert.equal((wrong.output.match(/Incoming request failed/g) ?? []).length, 1, wrong.output);
  } finally {
    await bridge.stop("SIGKILL");
    await cloud.endAsync();
  }
});

Deno.test("run in socket mode starts while p11-server is down, keeps health down, and comes up when it answers", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "socket");
  const { socketPath } = device.p11!;
  await device.p11!.server.stop("SIGTERM");
  const cloud = await env.cloudClient("cloud-app");
  const cloudInbox = new Inbox(cloud);
  await cloud.subscribeAsync(["s/us"], { qos: 1 });
  const bridge = device.start();
  try {
    const blocked =
      /Cannot connect to tedge-p11-server at [^\n]*hsm-bridge keeps running: health is down, and the key is opened again at each cloud reconnection/;
    await bridge.waitForOutput(blocked, 20_000);
    await sleep(1_500);
    assert.ok(bridge.running, `the bridge keeps running without its server:\n${bridge.output}`);
    assert.equal((bridge.output.match(new RegExp(blocked, "g")) ?? []).length, 1, "logged once");
    assert.equal(cloudInbox.messages.length, 0, "nothing reached the cloud without the key");

    const server = await startP11ServerProcess(device.hsm!, socketPath);
    env.atDispose.push(() => server.stop("SIGKILL"));
    await cloudInbox.waitFor((m) => m.payload === UP, "102 up once the server answers", 30_000);
    await bridge.waitForOutput(/tedge-p11-server answers again: device key open/, 5_000);
  } finally {
    await bridge.stop("SIGKILL");
    await cloud.endAsync();
  }
});
