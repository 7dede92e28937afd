/** `hsm-bridge config ...` run as a separate process, as a user runs it. */
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";

const TEDGE_TOML = `# thin-edge.io configuration, written by the installer
# Keep this header.

[device]
# Certificate issued by the device CA
cert_path = "/etc/tedge/device-certs/tedge-certificate.pem"  # chain, leaf first

[device.cryptoki]
mode = "module"
module_path = "/usr/lib/softhsm/libsofthsm2.so"
pin = "654321"

[c8y]
url = "example.cumulocity.com"

[mqtt.client]
port = 1883   # local mosquitto
`;

async function setup(text = TEDGE_TOML) {
  const dir = await tempDir("cli-config-");
  const path = `${dir.path}/tedge.toml`;
  await Deno.writeTextFile(path, text);
  return { dir, path };
}

Deno.test("config set, get and list keep every comment and untouched line", async () => {
  const { dir, path } = await setup();
  await using _ = dir;
  let r = await runCli(["config", "set", "c8y.bridge.topic_prefix", "cloud", "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["--config", path, "config", "set", "mqtt.client.port", "1884"]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["config", "set", "c8y.smartrest.templates", "tpl-a,tpl-b", "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    await Deno.readTextFile(path),
    TEDGE_TOML.replace("port = 1883   #", "port = 1884   #") +
      '\n[c8y.bridge]\ntopic_prefix = "cloud"\n\n[c8y.smartrest]\ntemplates = [ "tpl-a", "tpl-b" ]\n',
  );
  r = await runCli(["config", "get", "c8y.bridge.topic_prefix", "--config", path]);
  assert.deepEqual([r.code, r.stdout], [0, "cloud\n"]);
  r = await runCli(["config", "get", "c8y.mqtt", "--config", path]);
  assert.equal(r.stdout, "example.cumulocity.com:8883\n");
  r = await runCli(["config", "list", "c8y.", "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "c8y.url=example.cumulocity.com",
      "c8y.mqtt=example.cumulocity.com:8883",
      "c8y.root_cert_path=/etc/ssl/certs",
      "c8y.bridge.topic_prefix=cloud",
      "c8y.bridge.keepalive_interval=60s",
      "c8y.bridge.tls.min_version=1.2",
      "c8y.smartrest.templates=tpl-a,tpl-b",
      "c8y.mapper.mqtt.max_payload_size=16184",
      "c8y.bridge.outbox.enable=true",
      "c8y.bridge.outbox.dir=/var/lib/tedge/hsm-bridge",
      "c8y.bridge.outbox.max_size=64MB",
    ].join("\n") + "\n",
  );
  r = await runCli(["config", "unset", "c8y.bridge.topic_prefix", "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["config", "get", "c8y.bridge.topic_prefix", "--config", path]);
  assert.equal(r.stdout, "c8y\n");
});

Deno.test("config list hides PINs unless --show-secrets; config get prints the one asked for", async () => {
  const { dir, path } = await setup();
  await using _ = dir;
  let r = await runCli(["config", "list", "--config", path]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^device\.cryptoki\.pin=\*{8}$/m);
  assert.ok(!r.stdout.includes("654321"));
  r = await runCli(["config", "list", "--all", "pin", "--config", path]);
  assert.equal(r.stdout, "device.key_pin=\ndevice.cryptoki.pin=********\n");
  r = await runCli(["config", "list", "--show-secrets", "cryptoki.pin", "--config", path]);
  assert.equal(r.stdout, "device.cryptoki.pin=654321\n");
  r = await runCli(["config", "get", "device.cryptoki.pin", "--config", path]);
  assert.equal(r.stdout, "654321\n");
});

Deno.test("config list --doc prints every key with its doc and an example", async () => {
  const r = await runCli(["config", "list", "--doc", "keepalive"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    "c8y.bridge.keepalive_interval\n    MQTT keepalive towards the cloud.\n    Default: 60s\n" +
      "    Example: hsm-bridge config set c8y.bridge.keepalive_interval 60s\n" +
      "    Environment: TEDGE_C8Y_BRIDGE_KEEPALIVE_INTERVAL\n",
  );
  const all = await runCli(["config", "list", "--doc"]);
  assert.equal(all.stdout.match(/^ {4}Example: /gm)?.length, 39);
  // The outbox's keys and the TLS minimum are hsm-bridge's own, and say so.
  assert.equal(
    all.stdout.match(/^ {4}hsm-bridge extension: thin-edge does not read this key/gm)?.length,
    5,
  );
  // hsm-bridge's own keys say so.
  const ours = await runCli(["config", "list", "--doc", "tls.min_version"]);
  assert.match(
    ours.stdout,
    /^c8y\.bridge\.tls\.min_version\n[\s\S]*Default: 1\.2\n[\s\S]*hsm-bridge extension: thin-edge does not read this key/,
  );
  // Written as a bare TOML number, as people will.
  const { dir, path } = await setup("[c8y.bridge.tls]\nmin_version = 1.3\n");
  await using _ = dir;
  {
    const got = await runCli(["config", "get", "c8y.bridge.tls.min_version", "--config", path]);
    assert.deepEqual([got.code, got.stdout], [0, "1.3\n"]);
    const bad = await runCli([
      "config",
      "set",
      "c8y.bridge.tls.min_version",
      "1.1",
      "--config",
      path,
    ]);
    assert.equal(bad.code, 78, bad.stderr);
    assert.match(
      bad.stderr,
      /Invalid value "1\.1" for "c8y\.bridge\.tls\.min_version": expected one of 1\.2, 1\.3/,
    );
  }
});

Deno.test("config set refuses an outbox size under 64KiB, naming what it expects", async () => {
  const { dir, path } = await setup();
  await using _ = dir;
  let r = await runCli(["config", "set", "c8y.bridge.outbox.max_size", "10KB", "--config", path]);
  assert.equal(r.code, 78);
  assert.match(
    r.stderr,
    /"c8y\.bridge\.outbox\.max_size".*expected a size of at least 64KiB like 64MB/,
  );
  r = await runCli(["config", "set", "c8y.bridge.outbox.max_size", "512KiB", "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["config", "get", "c8y.bridge.outbox.max_size", "--config", path]);
  assert.equal(r.stdout, "512KiB\n");
});

Deno.test("config get of an unset key says so and exits 1", async () => {
  const { dir, path } = await setup("");
  await using _ = dir;
  const r = await runCli(["config", "get", "c8y.url", "--config", path]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "hsm-bridge: The provided config key: 'c8y.url' is not set\n");
});

Deno.test("config refuses an unknown key with suggestions (exit 2)", async () => {
  const r = await runCli(["config", "set", "c8y.ulr", "x", "--config", "/nonexistent/t.toml"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'hsm-bridge: Unknown config key "c8y.ulr": did you mean "c8y.url"?\n');
});

Deno.test("config set refuses a bad value naming key, value and the expectation (exit 78)", async () => {
  const { dir, path } = await setup();
  await using _ = dir;
  for (
    const [key, value, expected] of [
      ["mqtt.client.port", "abc", "expected a port number 1-65535"],
      ["c8y.url", "https://example.com", "expected a host name or IP address"],
      ["device.cert_path", "certs/x.pem", "expected an absolute path"],
      ["c8y.bridge.keepalive_interval", "soon", "expected a duration like 30, 30s, 5m"],
      ["device.key_uri", "pkcs11:token", "expected a PKCS#11 URI (RFC 7512)"],
      ["device.cryptoki.mode", "on", "expected one of off, module, socket"],
    ]
  ) {
    const r = await runCli(["config", "set", key, value, "--config", path]);
    assert.equal(r.code, 78, `${key}: ${r.stderr}`);
    assert.ok(
      r.stderr.startsWith(`hsm-bridge: Invalid value "${value}" for "${key}": ${expected}`),
      r.stderr,
    );
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  }
  assert.equal(await Deno.readTextFile(path), TEDGE_TOML);
});

Deno.test("a malformed tedge.toml is reported with line and column, and nothing is written", async () => {
  const bad = TEDGE_TOML.replace('url = "example.cumulocity.com"', "url = example.cumulocity.com");
  const { dir, path } = await setup(bad);
  await using _ = dir;
  for (const args of [["config", "get", "c8y.url"], ["config", "set", "c8y.url", "a.example"]]) {
    const r = await runCli([...args, "--config", path]);
    assert.equal(r.code, 78);
    assert.match(
      r.stderr,
      new RegExp(`^hsm-bridge: Cannot parse config file "${path}": line 14, column 7: `),
    );
  }
  assert.equal(await Deno.readTextFile(path), bad);
});

Deno.test("config set creates a new file with mode 0600 in TEDGE_CONFIG_DIR", async () => {
  await using dir = await tempDir("cli-config-");
  const env = { TEDGE_CONFIG_DIR: dir.path };
  const r = await runCli(["config", "set", "device.key_pin", "1234"], { env });
  assert.equal(r.code, 0, r.stderr);
  const path = `${dir.path}/tedge.toml`;
  assert.equal(await Deno.readTextFile(path), '[device]\nkey_pin = "1234"\n');
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const list = await runCli(["config", "list", "device.key_pin"], { env });
  assert.equal(list.stdout, "device.key_pin=********\n");
});

Deno.test("TEDGE_* variables override the file and an empty one unsets", async () => {
  const { dir, path } = await setup();
  await using _ = dir;
  let r = await runCli(["config", "get", "c8y.url", "--config", path], {
    env: { TEDGE_C8Y_URL: "env.example.com" },
  });
  assert.equal(r.stdout, "env.example.com\n");
  r = await runCli(["config", "get", "c8y.url", "--config", path], { env: { TEDGE_C8Y_URL: "" } });
  assert.equal(r.code, 1);
});

Deno.test("hsm-bridge answers --help and --version, and usage errors exit 2", async () => {
  let r = await runCli(["--version"]);
  assert.deepEqual([r.code, r.stdout.trim()], [0, "0.1.0"]);
  r = await runCli(["config", "list", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: hsm-bridge config list \[options\] \[filter\]/);
  r = await runCli([]);
  assert.equal(r.code, 2);
  r = await runCli(["config", "get"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "hsm-bridge: missing required argument 'key' (see --help)\n");
  r = await runCli(["config", "list", "--bogus"]);
  assert.equal(r.code, 2);
  r = await runCli(["--log-level", "loud", "config", "list"]);
  assert.equal(r.code, 2);
});

Deno.test("config get device.id reads the CN of device.cert_path, else the stored id", async () => {
  const { dir, path } = await setup('[device]\nid = "stored-id"\n');
  await using _ = dir;
  const pki = await TestPki.create(`${dir.path}/pki`);
  const device = await pki.device("device", "edge-cn-0042");
  let r = await runCli(["config", "get", "device.id", "--config", path]);
  assert.equal(r.stdout, "stored-id\n");
  r = await runCli(["config", "set", "device.cert_path", device.certPath, "--config", path]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["config", "get", "device.id", "--config", path]);
  assert.equal(r.stdout, "edge-cn-0042\n");
});

Deno.test("config list and config errors never show a pin-value from a key URI", async () => {
  const { dir, path } = await setup("");
  await using _ = dir;
  let r = await runCli([
    "config",
    "set",
    "device.key_uri",
    "pkcs11:token=edge;object=k?pin-value=SECRET42",
    "--config",
    path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["config", "list", "device.key_uri", "--config", path]);
  assert.equal(r.stdout, "device.key_uri=pkcs11:token=edge;object=k?pin-value=[redacted]\n");
  r = await runCli(["config", "list", "--show-secrets", "device.key_uri", "--config", path]);
  assert.equal(r.stdout, "device.key_uri=pkcs11:token=edge;object=k?pin-value=SECRET42\n");
  r = await runCli(["config", "get", "device.key_uri", "--config", path]);
  assert.equal(r.stdout, "pkcs11:token=edge;object=k?pin-value=SECRET42\n");
  r = await runCli([
    "config",
    "set",
    "device.key_uri",
    "pkcs11:a b?pin-value=SECRET42",
    "--config",
    path,
  ]);
  assert.equal(r.code, 78);
  assert.ok(!r.stderr.includes("SECRET42"), r.stderr);
  r = await runCli(["config", "get", "device.key_uri", "--config", path], {
    env: { TEDGE_DEVICE_KEY_URI: "pkcs11:x y?pin-value=SECRET42" },
  });
  assert.equal(r.code, 78);
  assert.ok(!r.stderr.includes("SECRET42"), r.stderr);
});

Deno.test("config set keeps a duration as written", async () => {
  const { dir, path } = await setup("");
  await using _ = dir;
  const r = await runCli([
    "config",
    "set",
    "c8y.bridge.keepalive_interval",
    "90",
    "--config",
    path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await Deno.readTextFile(path), '[c8y.bridge]\nkeepalive_interval = "90"\n');
  const get = await runCli(["config", "get", "c8y.bridge.keepalive_interval", "--config", path]);
  assert.equal(get.stdout, "90\n");
});

Deno.test("config list shows the valid keys when one value is bad, then exits 78", async () => {
  const { dir, path } = await setup('[c8y]\nurl = "a.example.com"\n[mqtt.client]\nport = "x"\n');
  await using _ = dir;
  const r = await runCli(["config", "list", "--config", path]);
  assert.equal(r.code, 78);
  assert.match(r.stdout, /^c8y\.url=a\.example\.com$/m);
  assert.ok(!r.stdout.includes("mqtt.client.port="), r.stdout);
  assert.equal(
    r.stderr,
    `hsm-bridge: Invalid value "x" for "mqtt.client.port" in config file "${path}": ` +
      "expected a port number 1-65535\n",
  );
});

Deno.test("a config file named with --config must exist (except for set)", async () => {
  await using dir = await tempDir("cli-config-");
  const path = `${dir.path}/typo.toml`;
  const r = await runCli(["config", "list", "--config", path]);
  assert.equal(r.code, 78);
  assert.equal(
    r.stderr,
    `hsm-bridge: Config file "${path}" does not exist: check --config, or create it with ` +
      `"hsm-bridge config set KEY VALUE --config ${path}"\n`,
  );
  const set = await runCli(["config", "set", "c8y.url", "a.example.com", "--config", path]);
  assert.equal(set.code, 0, set.stderr);
});
