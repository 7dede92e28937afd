/**
 * `hsm-bridge run` as a user runs it (cli.ts in its own process, the compile permission set),
 * with a file key and with a SoftHSM token key, both over our TLS 1.3 client, against a TLS
 * 1.3 mutual-auth "cloud" mosquitto and a local mosquitto.
 */
import assert from "node:assert/strict";
import { healthPayload } from "../src/bridge/mod.ts";
import {
  BridgeEnv,
  DEVICE_ID,
  eventually,
  Inbox,
  type KeyKind,
  RunDevice,
  sleep,
  TOKEN_PIN,
  UP_102 as UP,
  watchBothSides,
} from "./bridge_fixture.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { run } from "./helpers/process.ts";
import { countCalls, PKCS11_SPY_MODULE, SOFTHSM_MODULE, spyEnv } from "./helpers/softhsm.ts";

const DOWN = UP.replace(/up$/, "down");

for (const kind of ["file", "softhsm", "socket"] as KeyKind[]) {
  Deno.test(`run bridges both ways with a ${kind} key and stops cleanly on SIGTERM`, async () => {
    await using env = await BridgeEnv.create();
    const device = await RunDevice.create(env, kind, {
      "c8y.bridge.keepalive_interval": `"45s"`, // not the default (60 s)
      ...(kind === "file" ? { "mqtt.bridge.built_in": "false" } : {}),
    });
    const watch = await watchBothSides(env);
    const { cloud, local, cloudInbox, localInbox } = watch;
    const bridge = device.start();
    try {
      await watch.up();
      // How each side connected, as the brokers saw it (mosquitto: p2 = MQTT 3.1.1, p5 =
      // MQTT 5, c = clean session, k = keepalive): cloud = device id, clean, c8y keepalive;
      // local = tedge-mapper-bridge-c8y, persistent session, MQTT 5.
      assert.deepEqual(connections(env.cloud.log, DEVICE_ID), [`p2, c1, k45, u'${DEVICE_ID}'`]);
      assert.deepEqual(connections(env.local.log, "tedge-mapper-bridge-c8y"), ["p5, c0, k60"]);
      await local.publishAsync("c8y/s/us", "200,run,T,1", { qos: 1 });
      await local.publishAsync("c8y/measurement/measurements/create", "{}", { qos: 1 });
      await cloud.publishAsync("s/ds", "510,x", { qos: 1 });
      await cloud.publishAsync("s/dc/tmpl1", "template", { qos: 1 });
      await cloudInbox.waitFor((m) => m.payload === "200,run,T,1", "c8y/s/us -> s/us");
      await cloudInbox.waitFor(
        (m) => m.topic === "measurement/measurements/create",
        "measurement",
      );
      await localInbox.waitFor((m) => m.topic === "c8y/s/ds", "s/ds -> c8y/s/ds");
      await localInbox.waitFor((m) => m.topic === "c8y/s/dc/tmpl1", "template topic");
      await bridge.waitForOutput(/INFO {2}bridge: Bridge counters forwarded_to_cloud=2/, 5_000);

      const status = await bridge.stop("SIGTERM", 15_000);
      assert.equal(status.code, 0, bridge.output);
      const health = () =>
        localInbox.messages.filter((m) => m.topic === env.profile.healthTopic).at(-1)?.payload;
      await eventually(() => health() === healthPayload(false), "health down after SIGTERM");
      await cloudInbox.waitFor((m) => m.payload === DOWN, "102 down");
      assert.match(bridge.output, /Bridge stopped/);
      assert.match(bridge.output, /Connected to the cloud broker/);
      if (kind === "file") {
        assert.match(bridge.output, /WARN {2}run: mqtt\.bridge\.built_in is false/);
      } else {
        assert.match(
          bridge.output,
          /INFO {2}run: Cloud endpoint .*key="PKCS#11 key .*tls=hsm-bridge/,
        );
      }
    } finally {
      await bridge.stop("SIGKILL");
      await watch.end();
    }
  });

  Deno.test(`run publishes nothing to an untrusted cloud and says why (${kind} key)`, async () => {
    await using env = await BridgeEnv.create({ untrustedCloud: true });
    const device = await RunDevice.create(env, kind);
    // The test's own client trusts the untrusted server on purpose, to watch the broker.
    const watcher = await env.cloudClient("watcher", {
      ca: await Deno.readTextFile(`${env.dir}/other-pki/ca.pem`),
    });
    const seen = new Inbox(watcher);
    await watcher.subscribeAsync("#", { qos: 1 });
    const bridge = device.start();
    try {
      await bridge.waitForOutput(/Cannot connect to the cloud broker.*reason=.*/, 20_000);
      await bridge.waitForOutput(/Cannot connect to the cloud broker[^\n]*\n[\s\S]*Cannot connect/);
      const line = bridge.output.split("\n").find((l) => /Cannot connect to the cloud/.test(l))!;
      assert.match(line, /certificate|issuer|trust/i, line);
      await sleep(200);
      assert.deepEqual(seen.messages, [], "nothing reached the cloud broker");
      assert.doesNotMatch(env.cloud.log, new RegExp(`as ${DEVICE_ID}`), "no MQTT session");
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
      await watcher.endAsync();
    }
  });
}

Deno.test("run refuses a bad rule file with exit 78, naming the file and the rule", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "file");
  const dir = `${env.dir}/mappers/c8y/bridge`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/custom.toml`,
    `local_prefix = "c8y/"\nremote_prefix = ""\n` +
      `[[rule]]\ntopic = "ok/#"\ndirection = "outbound"\n` +
      `[[rule]]\ntopic = "bad/#/x"\ndirection = "outbound"\n`,
  );
  const result = await device.run();
  assert.equal(result.code, 78, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `hsm-bridge: Invalid bridge rule file "${dir}/custom\\.toml": rule 2: "topic" is an ` +
        `invalid MQTT topic filter`,
    ),
  );
  assert.doesNotMatch(result.stderr, /Connected to/);
});

Deno.test("run with a wrong PIN exits 78 after exactly one C_Login", async () => {
  await using env = await BridgeEnv.create();
  const device = await RunDevice.create(env, "softhsm", {
    "device.cryptoki.module_path": `"${PKCS11_SPY_MODULE}"`,
    "device.cryptoki.pin": `"${TOKEN_PIN}9"`,
  });
  const spyLog = `${env.dir}/pkcs11-spy.log`;
  const result = await device.run([], spyEnv(device.hsm!, spyLog));
  assert.equal(result.code, 78, result.stdout + result.stderr);
  assert.match(result.stderr, /Wrong PIN for token "edge"/);
  assert.doesNotMatch(result.stdout + result.stderr, new RegExp(`${TOKEN_PIN}9`), "no PIN shown");
  assert.equal(await countCalls(spyLog, "C_Login"), 1);
  assert.doesNotMatch(result.stderr, /Connected to/);
  // The spy sat in front of SoftHSM, the configured PIN is what reached the token (not the
  // default 123456), and the token itself refused it.
  const spy = await Deno.readTextFile(spyLog);
  assert.match(spy, new RegExp(`Loaded: "${SOFTHSM_MODULE}"`));
  const login = /^\d+: C_Login\n[\s\S]*?^Returned:[^\n]*/m.exec(spy)?.[0] ?? "";
  const pinHex = [...`${TOKEN_PIN}9`].map((c) => c.charCodeAt(0).toString(16)).join(" ");
  assert.match(login, new RegExp(`pPin\\[ulPinLen\\] \\S+ / 5\\n\\s+00000000 +${pinHex} `));
  assert.match(login, /Returned:\s+\d+ CKR_PIN_INCORRECT$/);
});

Deno.test("run refuses a key that does not match the certificate with exit 78", async () => {
  await using env = await BridgeEnv.create();
  const other = await env.pki.device("other", "someone-else");
  const device = await RunDevice.create(env, "file", {
    "device.key_path": `"${other.keyPath}"`,
  });
  const result = await device.run();
  assert.equal(result.code, 78, result.stderr);
  assert.match(result.stderr, /does not match|not the private key|mismatch/i);
});

Deno.test("run connects to a local broker over TLS with a user name and password file", async () => {
  await using env = await BridgeEnv.create();
  // Replace the plain local broker by one that wants TLS and a password.
  const server = await env.pki.server("local-server");
  const passwords = `${env.dir}/local/passwords`;
  await run("mosquitto_passwd", ["-c", "-b", passwords, "bridge-user", "s3cret-pw"]);
  await env.local.stop();
  const local = await Mosquitto.start({
    dir: `${env.dir}/local`,
    tls: {
      caPath: env.pki.caPath,
      certPath: server.certPath,
      keyPath: server.keyPath!,
      requireCertificate: false,
    },
    extra: ["allow_anonymous false", `password_file ${passwords}`],
  });
  await Deno.writeTextFile(`${env.dir}/password.txt`, "s3cret-pw\n");
  const device = await RunDevice.create(env, "file", {
    "mqtt.client.port": String(local.port),
    "mqtt.client.auth.ca_file": `"${env.pki.caPath}"`,
    "mqtt.client.auth.username": `"bridge-user"`,
    "mqtt.client.auth.password_file": `"${env.dir}/password.txt"`,
  });
  const bridge = device.start();
  try {
    await bridge.waitForOutput(/Health up/, 20_000);
    assert.match(local.log, /New client connected .* as tedge-mapper-bridge-c8y .*u'bridge-user'/);
    assert.doesNotMatch(bridge.output, /s3cret-pw/);
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
    await local.stop();
  }
});

/** The parameters of each connection mosquitto logged for `clientId` ("p2, c1, k60"). */
function connections(log: string, clientId: string): string[] {
  const re = new RegExp(`New client connected from \\S+ as ${clientId} \\(([^)]*)\\)`, "g");
  return [...log.matchAll(re)].map((m) => m[1]);
}
