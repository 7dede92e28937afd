import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";

async function configFile(text: string): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "config-test-" });
  const path = `${dir}/tedge.toml`;
  await Deno.writeTextFile(path, text);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("TedgeConfig gives typed values with defaults", async () => {
  await using f = await configFile(
    '[c8y]\nurl = "t.example.com"\n[c8y.bridge]\nkeepalive_interval = "30s"\n',
  );
  const c = await loadConfig({ path: f.path });
  assert.equal(c.get("c8y.url"), "t.example.com");
  assert.deepEqual(c.get("c8y.mqtt"), { host: "t.example.com", port: 8883 });
  assert.equal(c.source("c8y.mqtt"), "derived");
  assert.equal(c.get("c8y.bridge.keepalive_interval"), 30_000);
  assert.equal(c.format("c8y.bridge.keepalive_interval"), "30s");
  assert.equal(c.get("mqtt.client.port"), 1883);
  assert.equal(c.source("mqtt.client.port"), "default");
  assert.equal(c.get("device.cryptoki.pin")?.expose(), "123456");
  assert.equal(c.get("device.key_uri"), undefined);
  assert.deepEqual(c.get("c8y.smartrest.templates"), []);
});

Deno.test("TedgeConfig takes TEDGE_* variables over the file; an empty one unsets", async () => {
  await using f = await configFile('[c8y]\nurl = "file.example.com"\n[mqtt.client]\nport = 1883\n');
  const c = await loadConfig({
    path: f.path,
    env: { TEDGE_MQTT_CLIENT_PORT: "1884", TEDGE_C8Y_URL: "", TEDGE_DEVICE_CRYPTOKI_PIN: "999" },
  });
  assert.equal(c.get("mqtt.client.port"), 1884);
  assert.equal(c.source("mqtt.client.port"), "env");
  assert.equal(c.get("c8y.url"), undefined);
  assert.equal(c.get("c8y.mqtt"), undefined);
  assert.equal(c.get("device.cryptoki.pin")?.expose(), "999");
  // Unset means what `config unset` means: the file's value goes, the default applies again.
  const unset = await loadConfig({ path: f.path, env: { TEDGE_MQTT_CLIENT_PORT: "" } });
  assert.equal(unset.get("mqtt.client.port"), 1883);
  assert.equal(unset.source("mqtt.client.port"), "default");
});

Deno.test("TedgeConfig names the variable or file of a bad value, masking secrets", async () => {
  await using f = await configFile('[mqtt.client]\nport = "x"\n');
  const c = await loadConfig({
    path: f.path,
    env: { TEDGE_C8Y_BRIDGE_KEEPALIVE_INTERVAL: "soon" },
  });
  assert.throws(() => c.get("mqtt.client.port"), {
    name: "ConfigError",
    message: `Invalid value "x" for "mqtt.client.port" in config file "${f.path}": ` +
      "expected a port number 1-65535",
  });
  assert.throws(() => c.validate(), { name: "ConfigError" });
  assert.throws(() => c.get("c8y.bridge.keepalive_interval"), {
    message: /in environment variable TEDGE_C8Y_BRIDGE_KEEPALIVE_INTERVAL: expected a duration/,
  });
  const c2 = await loadConfig({ path: f.path, env: { TEDGE_DEVICE_KEY_PIN: "" } });
  assert.equal(c2.get("device.key_pin"), undefined);
});

Deno.test("TedgeConfig maps the legacy cryptoki.enable switch when mode is not set", async () => {
  await using on = await configFile('[device.cryptoki]\nenable = true\nserial = "abc"\n');
  const c = await loadConfig({ path: on.path });
  assert.equal(c.get("device.cryptoki.mode"), "module");
  assert.equal(c.source("device.cryptoki.mode"), "legacy");
  assert.equal(c.get("device.cryptoki.serial"), "abc");
  await using both = await configFile('[device.cryptoki]\nenable = true\nmode = "off"\n');
  assert.equal((await loadConfig({ path: both.path })).get("device.cryptoki.mode"), "off");
  await using off = await configFile("[device.cryptoki]\nenable = false\n");
  assert.equal((await loadConfig({ path: off.path })).get("device.cryptoki.mode"), "off");
});

Deno.test("TedgeConfig reads device.id from the certificate when it can", async () => {
  await using f = await configFile('[device]\nid = "stored-id"\ncert_path = "/certs/dev.pem"\n');
  const seen: string[] = [];
  const c = await loadConfig({
    path: f.path,
    readCertificateCn: (p) => {
      seen.push(p);
      return Promise.resolve("cn-from-cert");
    },
  });
  assert.deepEqual(seen, ["/certs/dev.pem"]);
  assert.equal(c.get("device.id"), "cn-from-cert");
  assert.equal(c.source("device.id"), "certificate");
  const unreadable = await loadConfig({
    path: f.path,
    readCertificateCn: () => Promise.resolve(undefined),
  });
  assert.equal(unreadable.get("device.id"), "stored-id");
});

Deno.test("TedgeConfig of a missing file has the defaults", async () => {
  const c = await loadConfig({ path: "/nonexistent/tedge.toml" });
  assert.equal(c.get("c8y.bridge.topic_prefix"), "c8y");
  assert.equal(c.dir, "/nonexistent");
});

Deno.test("TedgeConfig.require() says how to set a missing key", async () => {
  const c = await loadConfig({ path: "/nonexistent/tedge.toml" });
  assert.throws(() => c.require("c8y.url"), {
    name: "ConfigError",
    message: 'Missing configuration "c8y.url": set it with "hsm-bridge config set c8y.url ' +
      '<value>" (e.g. example.cumulocity.com)',
  });
});

Deno.test("TedgeConfig.validate() refuses a maximum reconnect interval below the initial one", async () => {
  await using f = await configFile(
    '[mqtt.bridge.reconnect_policy]\ninitial_interval = "30s"\nmaximum_interval = "10s"\n',
  );
  const c = await loadConfig({ path: f.path });
  assert.throws(() => c.validate(), {
    name: "ConfigError",
    message: 'Invalid reconnect policy: "mqtt.bridge.reconnect_policy.maximum_interval" (10s) ' +
      'is below "mqtt.bridge.reconnect_policy.initial_interval" (30s): raise the maximum',
  });
});

Deno.test("TedgeConfig shows durations as written, also TOML integers (seconds)", async () => {
  await using f = await configFile("[c8y.bridge]\nkeepalive_interval = 90\n");
  const c = await loadConfig({ path: f.path });
  assert.equal(c.get("c8y.bridge.keepalive_interval"), 90_000);
  assert.equal(c.format("c8y.bridge.keepalive_interval"), "90");
});

Deno.test("TedgeConfig hides a pin-value of a key URI in errors", async () => {
  await using f = await configFile("");
  const c = await loadConfig({
    path: f.path,
    env: { TEDGE_DEVICE_KEY_URI: "pkcs11:x y?pin-value=4321" },
  });
  assert.throws(() => c.get("device.key_uri"), (e: Error) => {
    assert.ok(!e.message.includes("4321"), e.message);
    assert.match(e.message, /pin-value=\[redacted\]/);
    return true;
  });
});
