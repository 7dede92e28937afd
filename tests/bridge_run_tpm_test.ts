/**
 * `hsm-bridge run` (a separate process) with its device key in a software TPM through
 * tpm2-pkcs11, against the BridgeEnv brokers: messages cross; the TPM stack restarts under the
 * running bridge; the TPM's dictionary-attack lockout is waited out; a wrong PIN still ends it.
 */
import assert from "node:assert/strict";
import { healthPayload } from "../src/bridge/mod.ts";
import {
  BridgeEnv,
  eventually,
  Inbox,
  RunDevice,
  TOKEN_LABEL,
  TOKEN_PIN,
} from "./bridge_fixture.ts";

/** Watches the local health topic and relays both ways through a cloud and a local client. */
async function clients(env: BridgeEnv) {
  const cloud = await env.cloudClient("cloud-app");
  const local = await env.localClient("device-app");
  const cloudInbox = new Inbox(cloud);
  const localInbox = new Inbox(local);
  await cloud.subscribeAsync("s/us", { qos: 1 });
  await local.subscribeAsync(["c8y/s/ds", env.profile.healthTopic], { qos: 1 });
  const health = () =>
    localInbox.messages.filter((m) => m.topic === env.profile.healthTopic).at(-1)?.payload;
  /** A message each way, `tag` in both. */
  const roundTrip = async (tag: string) => {
    await local.publishAsync("c8y/s/us", `200,${tag}`, { qos: 1 });
    await cloud.publishAsync("s/ds", `510,${tag}`, { qos: 1 });
    await cloudInbox.waitFor((m) => m.payload === `200,${tag}`, `${tag} to the cloud`, 20_000);
    await localInbox.waitFor((m) => m.payload === `510,${tag}`, `${tag} to the device`, 20_000);
  };
  return {
    health,
    roundTrip,
    end: () => Promise.all([cloud.endAsync(), local.endAsync()]),
  };
}

Deno.test("run bridges both ways with a TPM key, and recovers from a TPM restart on the first attempt after it is back, without restarting", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "tpm");
  const tpm = device.tpm!;
  let c = await clients(env);
  const bridge = device.start();
  try {
    await eventually(() => c.health() === healthPayload(true), "health up", 30_000);
    await c.roundTrip("before");

    // The TPM stack goes away (swtpm and the resource manager); the cloud connection drops, so
    // the bridge must sign a new handshake while the TPM is gone.
    await tpm.stopResourceManager();
    await tpm.stopTpm();
    await env.cloud.restart();
    await c.end(); // the test's own cloud client went down with the broker
    c = await clients(env);
    const failure =
      /WARN {2}bridge: Cannot connect to the cloud broker, retrying in [^\n]*Signing the TLS handshake/g;
    await eventually(
      () => [...bridge.output.matchAll(failure)].length >= 2,
      "two failed attempts",
      30_000,
    );
    await tpm.startTpm();
    await tpm.startResourceManager();
    const back = bridge.output.length;

    await eventually(() => c.health() === healthPayload(true), "health up again", 30_000);
    await c.roundTrip("after");
    // At most the attempt that was under way when the TPM came back failed.
    const late = [...bridge.output.slice(back).matchAll(failure)].length;
    assert.ok(
      late <= 1,
      `${late} failed attempts after the TPM was back:\n${bridge.output.slice(back)}`,
    );
    assert.ok(bridge.running, "the same hsm-bridge process");
    assert.equal(bridge.output.match(/Bridge starting/g)?.length, 1);
    assert.match(bridge.output, /WARN {2}pkcs11: re-initialising PKCS#11 module/);
    assert.equal((await bridge.stop("SIGTERM", 15_000)).code, 0, bridge.output);
  } finally {
    await bridge.stop("SIGKILL");
    await c.end();
  }
});

Deno.test("run waits out a TPM lockout: health down with the reason, logged once, up when the lockout ends", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "tpm");
  const tpm = device.tpm!;
  const c = await clients(env);
  // Two failed logins lock the TPM for about RECOVERY seconds (one failure is forgiven then).
  const RECOVERY = 12;
  await tpm.clearLockout();
  await tpm.setLockoutParameters({
    maxTries: 2,
    recoverySeconds: RECOVERY,
    lockoutRecoverySeconds: 1,
  });
  await tpm.failLogins(2);
  const lockedAt = Date.now();
  assert.equal(await tpm.inLockout(), true);
  const bridge = device.start(["--log-level", "debug"]);
  try {
    await eventually(
      () => c.health()?.startsWith('{"status":"down","reason":"PIN locked for token') ?? false,
      "health down with the reason",
      30_000,
    );
    const health = JSON.parse(c.health()!);
    assert.match(
      health.reason,
      new RegExp(
        `^PIN locked for token "${TOKEN_LABEL}" .*C_Login returned CKR_PIN_LOCKED.*tpm2_dictionarylockout --clear-lockout`,
      ),
    );
    // Still locked: the login is tried again at the reconnect backoff (200 ms to 1 s here).
    const attempts = /DEBUG bridge: Cannot connect to the cloud broker, retrying in .*PIN locked/g;
    await eventually(
      () => [...bridge.output.matchAll(attempts)].length >= 3,
      "three attempts while locked",
      (RECOVERY - 1) * 1000 - (Date.now() - lockedAt),
    );
    assert.equal(await tpm.inLockout(), true, "the attempts did not end the lockout");
    assert.ok(bridge.running);

    await eventually(() => c.health() === healthPayload(true), "health up", 40_000);
    assert.ok(Date.now() - lockedAt >= (RECOVERY - 1) * 1000, "up only once the lockout ended");
    await c.roundTrip("after the lockout");
    const logged = bridge.output.match(/ERROR run: PIN locked for token[^\n]*/g) ?? [];
    assert.equal(logged.length, 1, logged.join("\n"));
    assert.match(
      logged[0],
      /hsm-bridge keeps running: health is down, and the login is tried again/,
    );
    assert.doesNotMatch(bridge.output, /WARN {2}bridge: Cannot connect to the cloud broker/);
    assert.match(bridge.output, /INFO {2}run: PIN lockout over: logged in to the token again/);
    assert.doesNotMatch(bridge.output, new RegExp(TOKEN_PIN));
    assert.equal((await bridge.stop("SIGTERM", 15_000)).code, 0, bridge.output);
  } finally {
    await bridge.stop("SIGKILL");
    await c.end();
  }
});

Deno.test("run with a wrong TPM PIN exits 78 after exactly one try", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "tpm", {
    "device.cryptoki.pin": `"${TOKEN_PIN}9"`,
  });
  const tpm = device.tpm!;
  // No failures yet, and none forgiven while the test looks.
  await tpm.clearLockout();
  await tpm.setLockoutParameters({ maxTries: 5, recoverySeconds: 600, lockoutRecoverySeconds: 1 });
  const result = await device.run();
  assert.equal(result.code, 78, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /hsm-bridge: Wrong PIN for token "edge" \(serial \d+\): C_Login returned CKR_PIN_INCORRECT/,
  );
  assert.doesNotMatch(result.stdout + result.stderr, /Connected to the cloud/);
  // The TPM counted exactly one failed authorisation.
  const cap = await tpm.tool("tpm2_getcap", ["properties-variable"]);
  assert.match(cap.stdout, /TPM2_PT_LOCKOUT_COUNTER: 0x1\n/);
});
