/**
 * `hsm-bridge run` with its store-and-forward outbox (issue 14), a separate process between
 * real brokers; the local mosquitto keeps a device's defaults (max_queued_messages 1000,
 * max_inflight_messages 20), so what the bridge does not take in time is dropped there.
 */
import assert from "node:assert/strict";
import { BridgeEnv, eventually, RunDevice, sleep } from "./bridge_fixture.ts";
import { LOAD_TOPIC_LOCAL } from "./bridge_load.ts";
import { runCli } from "./helpers/cli.ts";
import { describeOutage, orderedSink, outOfOrder, runOutage } from "./outage.ts";

Deno.test("run loses no message through a cloud outage: 20,000 QoS 1 messages at 1,000/s, in order", async () => {
  await using env = await BridgeEnv.create({ cloudPersistence: true, deviceDefaults: true });
  const device = await RunDevice.create(env, "file");
  const r = await runOutage(env, device, {
    messages: 20_000,
    ratePerSec: 1_000,
    progress: (l) => console.log(l),
  });
  try {
    console.log(describeOutage("cloud outage", r));
    assert.deepEqual(r.missing, [], describeOutage("missing messages", r));
    assert.equal(r.outOfOrder, 0, describeOutage("out of order", r));
    assert.ok(r.storedDepth >= 20_000, describeOutage("all stored during the outage", r));
    assert.equal(r.localBrokerDropped, false, env.local.log.slice(-2000));
    assert.equal((await r.bridge.stop("SIGTERM")).code, 0);
  } finally {
    await r.bridge.stop("SIGKILL");
  }
});

Deno.test("run loses no message through a cloud outage with the bridge SIGKILLed twice during it and once during the drain", async () => {
  await using env = await BridgeEnv.create({ cloudPersistence: true, deviceDefaults: true });
  const device = await RunDevice.create(env, "file");
  const r = await runOutage(env, device, {
    messages: 20_000,
    ratePerSec: 1_000,
    killsDuringOutage: 2,
    killsDuringDrain: 1,
    progress: (l) => console.log(l),
  });
  try {
    console.log(describeOutage("cloud outage with SIGKILLs", r));
    assert.equal(r.restartMs.length, 3);
    // While the process is down only mosquitto's queue (1,000 messages: one second at this
    // rate) holds what is published; a restart slower than that loses messages there.
    assert.equal(
      r.localBrokerDropped,
      false,
      `the local broker dropped messages while the bridge restarted (connected again after ` +
        `${r.restartMs.map(Math.round).join(", ")} ms)`,
    );
    assert.deepEqual(r.missing, [], describeOutage("missing messages", r));
    assert.equal(r.outOfOrder, 0, describeOutage("out of order", r));
    assert.equal(r.localBrokerDropped, false, env.local.log.slice(-2000));
    assert.equal((await r.bridge.stop("SIGTERM")).code, 0);
  } finally {
    await r.bridge.stop("SIGKILL");
  }
});

/** PUBACKs the local broker received from the bridge so far (its debug log). */
function localAcks(env: BridgeEnv): number {
  return env.local.log.match(/Received PUBACK from tedge-mapper-bridge-c8y/g)?.length ?? 0;
}

async function outboxStatus(device: RunDevice): Promise<Record<string, unknown>> {
  const r = await runCli(["outbox", "status", "--json", "--config", device.configPath]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("run with a full outbox stops acking the local broker, drops nothing, and resumes as the cloud drains it", async () => {
  await using env = await BridgeEnv.create({
    cloudPersistence: true,
    deviceDefaults: true,
    localExtra: ["log_type debug"],
  });
  // 64 KiB: about 1,390 of these messages (7 + 36 topic + up to 4 payload bytes each).
  const device = await RunDevice.create(env, "file", { "c8y.bridge.outbox.max_size": `"64KiB"` });
  const sink = await orderedSink(env);
  const publisher = await env.localClient("full-publisher");
  const bridge = device.start();
  try {
    await bridge.waitForOutput(/Health up/, 30_000);
    await env.cloud.stop("SIGTERM");
    await bridge.waitForOutput(/Disconnected from the cloud broker/);
    const n = 2_000;
    for (let i = 0; i < n; i++) {
      await publisher.publishAsync(LOAD_TOPIC_LOCAL, String(i), { qos: 1 });
      if (i % 100 === 99) await sleep(100); // 1,000/s
    }
    await bridge.waitForOutput(/WARN .*Outbox full: messages from the local broker are not/);
    await sleep(1_500);
    const whileFull = localAcks(env);
    const status = await outboxStatus(device);
    await sleep(1_000);
    assert.equal(localAcks(env), whileFull, "no local ack while the outbox is full");
    assert.ok(whileFull > 1_000 && whileFull < n, `${whileFull} acked before it was full`);
    assert.equal(status.messages, whileFull, JSON.stringify(status));
    assert.ok((status.bytes as number) <= 65_536 && status.maxBytes === 65_536);
    // The cloud returns: acks resume as room comes back, and everything arrives in order.
    await env.cloud.restart();
    await eventually(() => sink.counts.size >= n, `all ${n} at the cloud`, 30_000);
    await bridge.waitForOutput(/INFO .*Outbox has room again/);
    await eventually(() => localAcks(env) >= n, "every message acked locally");
    console.log(
      `outbox full: ${whileFull} of ${n} acked locally while full (no ack for 1 s), ` +
        `${localAcks(env)} after the drain, ${sink.counts.size} at the cloud`,
    );
    assert.equal(outOfOrder(sink.order), 0);
    assert.ok(!/dropped/i.test(env.local.log), "the local broker dropped nothing");
    assert.ok(!/Message dropped/.test(bridge.output), "the bridge dropped nothing");
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
    assert.match(bridge.output, /dropped_to_cloud=0 /);
  } finally {
    await bridge.stop("SIGKILL");
    await Promise.all([sink.client.endAsync(true), publisher.endAsync(true)]);
  }
});

Deno.test("run moves an unreadable outbox file aside, says so naming both files, and bridges with a new one", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "file");
  const dir = `${env.dir}/outbox`;
  const none = await outboxStatus(device);
  assert.deepEqual([none.exists, none.messages, none.path], [false, 0, `${dir}/outbox.db`]);
  await Deno.mkdir(dir);
  const garbage = new TextEncoder().encode("not a database ".repeat(500));
  await Deno.writeFile(`${dir}/outbox.db`, garbage);
  const status = await runCli(["outbox", "status", "--config", device.configPath]);
  assert.equal(status.code, 1, status.stdout);
  assert.match(status.stderr, /Outbox ".*\/outbox\.db" is unreadable: file is not a database/);
  const sink = await orderedSink(env);
  const publisher = await env.localClient("corrupt-publisher");
  const bridge = device.start();
  try {
    const m = await bridge.waitForOutput(
      /ERROR .*Outbox "(.*\/outbox\.db)" is unreadable: file is not a database: moved aside to "(.*)"; starting with an empty outbox/,
    );
    assert.equal(m[1], `${dir}/outbox.db`);
    assert.deepEqual(await Deno.readFile(m[2]), garbage, "the old file is kept, renamed");
    await bridge.waitForOutput(/Health up/, 30_000);
    await publisher.publishAsync(LOAD_TOPIC_LOCAL, "7", { qos: 1 });
    await eventually(() => sink.counts.has(7), "the message at the cloud");
    const after = await outboxStatus(device);
    assert.equal(after.exists, true);
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
    await Promise.all([sink.client.endAsync(true), publisher.endAsync(true)]);
  }
});

Deno.test("run exits 78 naming the outbox directory when it cannot be created", async () => {
  await using env = await BridgeEnv.create();
  await Deno.writeTextFile(`${env.dir}/a-file`, "");
  const device = await RunDevice.create(env, "file", {
    "c8y.bridge.outbox.dir": `"${env.dir}/a-file/outbox"`,
  });
  const r = await device.run();
  assert.equal(r.code, 78, r.stderr);
  assert.match(
    r.stderr,
    /Cannot create the outbox directory ".*\/a-file\/outbox": .*: set c8y\.bridge\.outbox\.dir to a directory the bridge can write/,
  );
});
