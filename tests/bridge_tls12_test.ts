/**
 * A TLS 1.2-only MQTT endpoint, as older load balancers and on-premises brokers are: stunnel4
 * with sslVersionMax TLSv1.2 and a required client certificate in front of a plain mosquitto
 * (Debian 12's mosquitto still answers TLS 1.3 with `tls_version tlsv1.2`). `check tls` and
 * `run` reach it with the key on a SoftHSM token, in module mode and in socket mode (through
 * hsm-bridge p11-server), and refuse it when set to TLS 1.3 only.
 */
import assert from "node:assert/strict";
import { BridgeEnv, DEVICE_ID, type KeyKind, RunDevice, watchBothSides } from "./bridge_fixture.ts";
import { runCli } from "./helpers/cli.ts";

for (const kind of ["softhsm", "socket"] as KeyKind[]) {
  Deno.test(`check tls and run reach a TLS 1.2-only MQTT endpoint (stunnel4) with a token key (${kind}), both ways`, async () => {
    await using env = await BridgeEnv.create({ cloudTls12: true });
    const device = await RunDevice.create(env, kind);
    // check tls: TLS 1.2 with the extended master secret, our token-signed certificate accepted.
    const check = await runCli(["check", "tls", "--config", device.configPath], {
      env: device.processEnv,
    });
    assert.equal(check.code, 0, check.stderr + check.stdout);
    assert.match(
      check.stdout,
      /protocol {7}TLSv1\.2 with extended master secret \(RFC 7627\), no renegotiation\n/,
    );
    assert.match(check.stdout, /cipher suite {3}TLS_ECDHE_ECDSA_WITH_AES_\d+_GCM_SHA\d+\n/);
    assert.match(
      check.stdout,
      /client auth {4}requested; signed with ecdsa_secp256r1_sha256 by .*pkcs11:token=edge;/,
    );
    await env.terminator!.process.waitForOutput(/TLSv1\.2 ciphersuite: ECDHE-ECDSA-AES/, 5_000);
    // Set to TLS 1.3 only, the same device refuses the endpoint, saying why.
    const strict = await runCli(["check", "tls", "--config", device.configPath], {
      env: { ...device.processEnv, TEDGE_C8Y_BRIDGE_TLS_MIN_VERSION: "1.3" },
    });
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /protocol_version|does not speak TLS 1\.3/);
    assert.equal(strict.stderr.trim().split("\n").length, 1, strict.stderr);

    // run: messages cross both ways through the terminator.
    const watch = await watchBothSides(env);
    const { cloud, local, cloudInbox, localInbox } = watch;
    const bridge = device.start();
    try {
      await watch.up();
      for (let i = 0; i < 20; i++) {
        await local.publishAsync("c8y/s/us", `200,tls12,T,${i}`, { qos: 1 });
        await cloud.publishAsync("s/ds", `510,tls12-${i}`, { qos: 1 });
      }
      await cloudInbox.waitFor((m) => m.payload === "200,tls12,T,19", "c8y/s/us -> s/us");
      await localInbox.waitFor((m) => m.payload === "510,tls12-19", "s/ds -> c8y/s/ds");
      const sent = (m: { payload: string }) => m.payload.startsWith("200,tls12,T,");
      assert.equal(cloudInbox.messages.filter(sent).length, 20);
      assert.equal(localInbox.messages.filter((m) => m.topic === "c8y/s/ds").length, 20);
      const status = await bridge.stop("SIGTERM", 15_000);
      assert.equal(status.code, 0, bridge.output);
      assert.match(bridge.output, /Connected to the cloud broker/);
      assert.doesNotMatch(bridge.output, /ERROR/);
      // The bridge's session came through the terminator: check tls, the test's cloud client
      // and the bridge each made a TLS 1.2 connection there.
      assert.match(
        env.cloud.log,
        new RegExp(`New client connected from 127\\.0\\.0\\.1:\\d+ as ${DEVICE_ID}`),
      );
      const tls12 = env.terminator!.log.match(/TLSv1\.2 ciphersuite/g) ?? [];
      assert.ok(tls12.length >= 3, env.terminator!.log);
      assert.doesNotMatch(env.terminator!.log, /TLSv1\.3/);
    } finally {
      await bridge.stop("SIGKILL");
      await watch.end();
    }
  });
}
