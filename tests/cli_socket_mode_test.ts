/**
 * The key commands in socket mode (device.cryptoki.mode = socket): `check key`, `cert
 * create-csr` and the `hsm` commands, each a separate process with no module path, no
 * SOFTHSM2_CONF and the ffi permission denied (loading pkcs11js would need it), talking to
 * `hsm-bridge p11-server`, which holds the SoftHSM token.
 */
import assert from "node:assert/strict";
import { type CliResult, runCli } from "./helpers/cli.ts";
import { startP11ServerProcess } from "./helpers/p11_server.ts";
import { run } from "./helpers/process.ts";
import { KEY_KINDS } from "./helpers/pki.ts";
import { Device, type TomlScalar } from "./keys_cli_fixture.ts";

/** A device in socket mode: its server process, and the CLI without any module access. */
async function socketDevice() {
  const dev = await Device.create();
  const token = await dev.hsm.initToken("edge", { pin: "1234" });
  const socketPath = `${dev.dir}/run/tedge-p11-server.sock`;
  const server = await startP11ServerProcess(dev.hsm, socketPath);
  const config = (extra: Record<string, TomlScalar> = {}) =>
    dev.writeConfig({
      "device.id": "edge-0001",
      "device.cert_path": `${dev.dir}/device.crt`,
      "device.cryptoki.mode": "socket",
      "device.cryptoki.socket_path": socketPath,
      ...extra,
    });
  const cli = (args: string[]): Promise<CliResult> =>
    runCli(["--config", dev.configPath, ...args], { denoFlags: ["--deny-ffi"] });
  return {
    dev,
    token,
    server,
    socketPath,
    config,
    cli,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await dev[Symbol.asyncDispose]();
    },
  };
}

Deno.test("check key through p11-server signs with a key of every type and verifies it (no module, no ffi)", async () => {
  await using d = await socketDevice();
  const expected = {
    p256: ["EC P-256", "ecdsa_secp256r1_sha256"],
    p384: ["EC P-384", "ecdsa_secp384r1_sha384"],
    rsa2048: ["RSA 2048", "rsa_pss_rsae_sha256"],
    rsa3072: ["RSA 3072", "rsa_pss_rsae_sha256"],
    ed25519: ["Ed25519", "ed25519"],
  };
  for (const kind of KEY_KINDS) {
    const key = await d.dev.hsm.importNewKey(d.token, kind, { label: `dev-${kind}` });
    await d.dev.issueCertificate(key.spki);
    await d.config({ "device.key_uri": key.uri, "device.key_pin": "1234" });
    const r = await d.cli(["check", "key", "--json"]);
    assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.equal(report.type, expected[kind][0]);
    assert.match(
      report.key,
      /^PKCS#11 key "pkcs11:token=edge;object=dev-\w+" through tedge-p11-server/,
    );
    assert.deepEqual(
      report.results.map((x: { scheme: string; verified: boolean }) => [x.scheme, x.verified]),
      [[expected[kind][1], true]],
    );
  }
  assert.doesNotMatch(d.server.output, /ERROR/);
});

Deno.test("check key in socket mode: a wrong PIN and a key that is not the certificate's are exit 78", async () => {
  await using d = await socketDevice();
  const key = await d.dev.hsm.importNewKey(d.token, "p256", { label: "dev" });
  const other = await d.dev.hsm.importNewKey(d.token, "p256", { label: "other" });
  await d.dev.issueCertificate(key.spki);
  await d.config({ "device.key_uri": other.uri });
  const mismatch = await d.cli(["check", "key"]);
  assert.equal(mismatch.code, 78, mismatch.stderr);
  assert.match(
    mismatch.stderr,
    /Private key "pkcs11:token=edge;object=other" through tedge-p11-server ".*" does not match the public key of certificate/,
  );
  await d.config({ "device.key_uri": key.uri, "device.key_pin": "999999" });
  const wrong = await d.cli(["check", "key"]);
  assert.equal(wrong.code, 78, wrong.stderr);
  assert.match(
    wrong.stderr,
    /refused ChooseSchemeRequest: PKCS #11 service failed: Wrong PIN for token "edge"/,
  );
  assert.doesNotMatch(wrong.stderr + d.server.output, /999999/);
  // No server: a runtime failure that says where it looked.
  await d.server.stop();
  await d.config({ "device.key_uri": key.uri });
  const down = await d.cli(["check", "key"]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /Cannot connect to tedge-p11-server at ".*tedge-p11-server.sock": there is no socket at that path/,
  );
});

Deno.test("cert create-csr through p11-server makes a request openssl verifies", async () => {
  await using d = await socketDevice();
  for (const kind of ["p256", "rsa2048", "ed25519"] as const) {
    const key = await d.dev.hsm.importNewKey(d.token, kind, { label: kind });
    await d.config({ "device.key_uri": key.uri });
    const out = `${d.dev.dir}/${kind}.csr`;
    const r = await d.cli(["cert", "create-csr", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const check = await run("openssl", ["req", "-verify", "-noout", "-subject", "-in", out]);
    assert.match(check.stderr + check.stdout, /verify OK/);
    const pub = await run("openssl", ["req", "-in", out, "-noout", "-pubkey"]);
    const der = Uint8Array.from(
      atob(pub.stdout.replace(/-----[^-]+-----|\s/g, "")),
      (c) => c.charCodeAt(0),
    );
    assert.deepEqual(der, key.spki, kind);
  }
});

Deno.test("hsm list-tokens, list-keys and create-key through p11-server", async () => {
  await using d = await socketDevice();
  const key = await d.dev.hsm.importNewKey(d.token, "p256", { label: "dev", idHex: "0d" });
  await d.dev.issueCertificate(key.spki);
  await d.config({ "device.key_uri": "pkcs11:token=edge", "device.key_pin": "1234" });

  const tokens = await d.cli(["hsm", "list-tokens", "--json"]);
  assert.equal(tokens.code, 0, tokens.stderr);
  const listed = JSON.parse(tokens.stdout);
  assert.equal(listed.length, 1);
  assert.equal(listed[0].label, "edge");
  assert.equal(listed[0].serial, d.token.serial);

  const created = await d.cli([
    "hsm",
    "create-key",
    "--type",
    "rsa",
    "--bits",
    "2048",
    "--label",
    "fresh",
    "--id",
    "0e",
    "--set-config",
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stdout,
    /Created RSA 2048 key "fresh" on the token\nURI: pkcs11:token=edge;/,
  );
  assert.match(created.stdout, /-----BEGIN PUBLIC KEY-----/);
  assert.match(created.stdout, /device.key_uri set to pkcs11:token=edge;.*object=fresh;id=%0E/);

  const keys = await d.cli(["hsm", "list-keys"]);
  assert.equal(keys.code, 0, keys.stderr);
  assert.match(
    keys.stdout,
    /Key "dev"\n {2}id: +0d\n {2}type: +EC P-256\n {2}uri: +pkcs11:token=edge;.*\n {2}schemes: +ecdsa_secp256r1_sha256\n {2}matches certificate: yes/,
  );
  assert.match(
    keys.stdout,
    /Key "fresh"\n {2}id: +0e\n {2}type: +RSA 2048\n[\s\S]*?matches certificate: no/,
  );

  // The new key signs through the server (device.key_uri was set to it).
  const csr = await d.cli(["cert", "create-csr"]);
  assert.equal(csr.code, 0, csr.stderr);
  assert.match(csr.stdout, /BEGIN CERTIFICATE REQUEST/);

  const ed = await d.cli(["hsm", "create-key", "--type", "ed25519"]);
  assert.equal(ed.code, 2);
  assert.match(ed.stderr, /--type ed25519 cannot be created through tedge-p11-server/);
});
