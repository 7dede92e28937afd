/** `hsm-bridge hsm list-tokens | list-keys | create-key`, run as a separate process. */
import assert from "node:assert/strict";
import { P11_KIT_CLIENT_MODULE } from "./helpers/softhsm.ts";
import { printedPublicKey } from "./helpers/cli.ts";
import { Device, SOFTHSM_MODULE } from "./keys_cli_fixture.ts";
import { P11KitServer } from "./keys_p11kit.ts";

Deno.test("hsm list-tokens lists each token with its URI without a PIN, as text and JSON", async () => {
  await using dev = await Device.create();
  const edge = await dev.hsm.initToken("edge");
  const other = await dev.hsm.initToken("other");
  // No PIN anywhere and the default PIN is wrong: listing must not log in.
  await dev.writeConfig({
    "device.cryptoki.mode": "module",
    "device.cryptoki.module_path": SOFTHSM_MODULE,
  });
  const text = await dev.cli(["hsm", "list-tokens"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^Token "edge"\n {2}serial: +[0-9a-f]{16}\n {2}manufacturer: +SoftHSM project\n/m,
  );
  assert.match(
    text.stdout,
    new RegExp(
      `uri: +pkcs11:token=other;manufacturer=SoftHSM%20project;serial=${other.serial};model=SoftHSM%20v2`,
    ),
  );
  const json = await dev.cli(["hsm", "list-tokens", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const tokens = JSON.parse(json.stdout) as {
    label: string;
    serial: string;
    flags: string[];
    uri: string;
  }[];
  assert.deepEqual(tokens.map((t) => [t.label, t.serial]).sort(), [["edge", edge.serial], [
    "other",
    other.serial,
  ]]);
  assert.ok(
    tokens.every((t) => t.flags.includes("TOKEN_INITIALIZED") && t.uri.startsWith("pkcs11:token=")),
  );
});

/** A token "edge" (PIN 1234) served by `p11-kit server`; the config loads p11-kit-client.so. */
async function throughP11Kit(dev: Device): Promise<P11KitServer> {
  await dev.hsm.initToken("edge", { pin: "1234" });
  const server = await P11KitServer.start(dev.hsm, `${dev.dir}/p11-kit.sock`);
  try {
    await dev.writeConfig({
      "device.cryptoki.mode": "module",
      "device.cryptoki.module_path": P11_KIT_CLIENT_MODULE,
      "device.cryptoki.p11_kit_server_address": server.address,
      "device.cryptoki.pin": "1234",
    });
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

Deno.test("hsm list-tokens through p11-kit-client takes the server address from the config", async () => {
  await using dev = await Device.create();
  const server = await throughP11Kit(dev);
  try {
    const r = await dev.cli(["hsm", "list-tokens", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).map((t: { label: string }) => t.label), ["edge"]);
  } finally {
    await server.stop();
  }
  const dead = await dev.cli(["hsm", "list-tokens"]);
  assert.equal(dead.code, 1);
  assert.match(
    dead.stderr,
    /No token found through p11-kit client module .* at server address "unix:path=.*p11-kit.sock": is "p11-kit server" running/,
  );
});

Deno.test("hsm create-key through p11-kit refuses a key type the client module cannot use, before creating it", async () => {
  await using dev = await Device.create();
  const server = await throughP11Kit(dev);
  try {
    const r = await dev.cli(["hsm", "create-key", "--type", "ed25519"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^hsm-bridge: Cannot generate a key pair on token "edge": it (does not offer ed25519 key generation|cannot sign with a ed25519 key).*; choose another --type: this token can make ecdsa, rsa\n$/,
    );
    const keys = await dev.cli(["hsm", "list-keys", "--json"]);
    assert.equal(keys.code, 0, keys.stderr);
    assert.deepEqual(JSON.parse(keys.stdout).keys, [], "nothing was created");
    const ec = await dev.cli(["hsm", "create-key", "--type", "ecdsa"]);
    assert.equal(ec.code, 0, ec.stderr);
  } finally {
    await server.stop();
  }
});

Deno.test("hsm create-key makes a sign-only key on the token and --set-config points device.key_uri at it", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  await dev.writeConfig(dev.moduleConfig());
  const r = await dev.cli([
    "hsm",
    "create-key",
    "--type",
    "ecdsa",
    "--curve",
    "p384",
    "--label",
    "dev",
    "--id",
    "0a0b",
    "--set-config",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const uri = `pkcs11:token=edge;serial=${token.serial};object=dev;id=%0A%0B;type=private`;
  assert.match(
    r.stdout,
    new RegExp(
      `^Created EC P-384 key "dev" on the token\nURI: ${
        uri.replace(/[;%]/g, "\\$&")
      }\n-----BEGIN PUBLIC KEY-----\n`,
    ),
  );
  assert.ok((await Deno.readTextFile(dev.configPath)).includes(`key_uri = "${uri}"`));
  const get = await dev.cli(["config", "get", "device.key_uri"]);
  assert.equal(get.stdout.trim(), uri);
  // The printed public key is the key's: issue a certificate for it, then list-keys matches.
  await dev.issueCertificate(printedPublicKey(r.stdout));
  for (
    const [type, extra, shown] of [["ed25519", [], "Ed25519"], [
      "rsa",
      ["--bits", "2048"],
      "RSA 2048",
    ]] as const
  ) {
    const made = await dev.cli(["hsm", "create-key", "--type", type, ...extra, "--label", type]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, new RegExp(`Created ${shown} key "${type}"`));
  }
  const listed = await dev.cli(["hsm", "list-keys", "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const keys = JSON.parse(listed.stdout).keys as {
    label: string;
    matchesCertificate: boolean;
    type: string;
  }[];
  assert.deepEqual(
    keys.map((k) => [k.label, k.type, k.matchesCertificate]).sort(),
    [["dev", "EC P-384", true], ["ed25519", "Ed25519", false], ["rsa", "RSA 2048", false]],
  );
  const again = await dev.cli(["hsm", "create-key", "--type", "ed25519", "--label", "dev"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /A private key with label "dev" already exists on token "edge"/);
});

Deno.test("hsm create-key refuses contradicting or malformed options with exit 2", async () => {
  await using dev = await Device.create();
  await dev.hsm.initToken("edge");
  await dev.writeConfig(dev.moduleConfig());
  const cases: [string[], RegExp][] = [
    [["--type", "rsa", "--curve", "p256"], /--curve applies to --type ecdsa only/],
    [["--type", "ecdsa", "--bits", "2048"], /--bits applies to --type rsa only/],
    [["--type", "ecdsa", "--id", "xyz"], /Invalid --id "xyz": expected hex bytes/],
    [["--type", "dsa"], /argument 'dsa' is invalid/],
    [["--type", "rsa", "--bits", "1024"], /argument '1024' is invalid/],
    [[], /required option '--type <type>' not specified/],
  ];
  for (const [args, re] of cases) {
    const r = await dev.cli(["hsm", "create-key", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

Deno.test("hsm list-keys says which key matches the device certificate", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  const a = await dev.hsm.importNewKey(token, "p256", { label: "a", idHex: "01" });
  await dev.hsm.importNewKey(token, "rsa2048", { label: "b", idHex: "02" });
  await dev.issueCertificate(a.spki);
  await dev.writeConfig(dev.moduleConfig());
  const r = await dev.cli(["hsm", "list-keys"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /Key "a"\n {2}id: +01\n {2}type: +EC P-256\n {2}uri: +pkcs11:token=edge;serial=[0-9a-f]+;object=a;id=%01;type=private\n {2}schemes: +ecdsa_secp256r1_sha256\n {2}matches certificate: yes/,
  );
  assert.match(
    r.stdout,
    /Key "b"\n[\s\S]*type: +RSA 2048\n[\s\S]*schemes: +rsa_pss_rsae_sha256, rsa_pss_rsae_sha384, rsa_pss_rsae_sha512, rsa_pkcs1_sha256, rsa_pkcs1_sha384, rsa_pkcs1_sha512\n {2}matches certificate: no/,
  );
});

Deno.test("the hsm commands report a wrong PIN and a missing module as configuration errors, a missing server as a failure", async () => {
  await using dev = await Device.create();
  await dev.hsm.initToken("edge");
  await dev.writeConfig(dev.moduleConfig({ "device.cryptoki.pin": "98765" }));
  const wrong = await dev.cli(["hsm", "list-keys"]);
  assert.equal(wrong.code, 78);
  assert.match(
    wrong.stderr,
    /^hsm-bridge: Wrong PIN for token "edge" \(serial [0-9a-f]+\): C_Login returned CKR_PIN_INCORRECT/m,
  );
  assert.doesNotMatch(wrong.stdout + wrong.stderr, /98765/);
  await dev.writeConfig(dev.moduleConfig({ "device.cryptoki.module_path": "/usr/lib/x.so" }));
  const missing = await dev.cli(["hsm", "list-tokens"]);
  assert.equal(missing.code, 78);
  assert.equal(
    missing.stderr,
    `hsm-bridge: Cannot load PKCS#11 module "/usr/lib/x.so": file not found\n`,
  );
  const socketPath = `${dev.dir}/nothing/p11.sock`;
  await dev.writeConfig({
    "device.cryptoki.mode": "socket",
    "device.cryptoki.socket_path": socketPath,
  });
  const socket = await dev.cli(["hsm", "list-tokens"]);
  assert.equal(socket.code, 1);
  assert.equal(
    socket.stderr,
    `hsm-bridge: Cannot connect to tedge-p11-server at "${socketPath}": there is no socket ` +
      `at that path\n`,
  );
  await dev.writeConfig({ "device.cryptoki.mode": "module" });
  const unset = await dev.cli(["hsm", "list-tokens"]);
  assert.equal(unset.code, 78);
  assert.match(unset.stderr, /device.cryptoki.module_path/);
});
