import assert from "node:assert/strict";
import type { Secret } from "../secret.ts";
import type { HostPort } from "./parsers.ts";
import {
  type ConfigKey,
  type ConfigValues,
  type CryptokiMode,
  envName,
  keySpec,
  SCHEMA,
  suggestKeys,
} from "./schema.ts";

Deno.test("SCHEMA has every COMPAT.md key once, each with doc and a valid example", () => {
  const keys = SCHEMA.map((s) => s.key);
  assert.equal(new Set(keys).size, keys.length);
  for (
    const k of [
      "device.id",
      "device.key_uri",
      "device.cryptoki.p11_kit_server_address",
      "c8y.mapper.mqtt.max_payload_size",
      "mqtt.bridge.reconnect_policy.reset_window",
      "mqtt.device_topic_id",
    ]
  ) assert.ok(keySpec(k), k);
  for (const s of SCHEMA) {
    assert.ok(s.doc.length > 10, s.key);
    s.type.fromString(s.example);
    if (s.default) s.type.fromString(s.default);
  }
});

Deno.test("SCHEMA marks exactly the PINs as secret", () => {
  assert.deepEqual(SCHEMA.filter((s) => s.secret).map((s) => s.key), [
    "device.key_pin",
    "device.cryptoki.pin",
  ]);
});

Deno.test("envName() upper-cases the key with _ for .", () => {
  assert.equal(envName("c8y.url"), "TEDGE_C8Y_URL");
  assert.equal(envName("device.cryptoki.pin"), "TEDGE_DEVICE_CRYPTOKI_PIN");
});

Deno.test("suggestKeys() finds the closest keys", () => {
  assert.deepEqual(suggestKeys("c8y.ur"), ["c8y.url"]);
  assert.equal(suggestKeys("device.cryptoki.modul_path")[0], "device.cryptoki.module_path");
  assert.ok(suggestKeys("mqtt.port").includes("mqtt.client.port"));
  assert.deepEqual(suggestKeys("something.completely.else"), []);
});

/** True only when A and B are the same type (a compile-time check: `deno check` fails otherwise). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

Deno.test("ConfigValues is derived from the table, key by key, with each key's value type", () => {
  const checks: [
    Same<ConfigValues["device.cryptoki.mode"], CryptokiMode>,
    Same<ConfigValues["c8y.mqtt"], HostPort>,
    Same<ConfigValues["device.key_pin"], Secret>,
    Same<ConfigValues["mqtt.client.port"], number>,
    Same<ConfigValues["c8y.smartrest.templates"], string[]>,
    Same<ConfigValues["mqtt.bridge.built_in"], boolean>,
    Same<ConfigKey, typeof SCHEMA[number]["key"]>,
  ] = [true, true, true, true, true, true, true];
  assert.ok(checks.every(Boolean));
  // @ts-expect-error: a key that is not in the table has no type
  const unknown: ConfigValues["device.no_such_key"] = "x";
  assert.equal(unknown, "x");
  assert.equal(SCHEMA.length, new Set(SCHEMA.map((s) => s.key)).size, "each key once");
  const tls: Same<ConfigValues["c8y.bridge.tls.min_version"], "1.2" | "1.3"> = true;
  assert.ok(tls);
});

Deno.test("SCHEMA marks hsm-bridge's own keys as extensions", () => {
  assert.deepEqual(SCHEMA.filter((s) => s.extension).map((s) => s.key), [
    "c8y.bridge.tls.min_version",
    "c8y.bridge.outbox.enable",
    "c8y.bridge.outbox.dir",
    "c8y.bridge.outbox.max_size",
    "c8y.bridge.outbox.max_age",
  ]);
  const spec = keySpec("c8y.bridge.tls.min_version")!;
  assert.equal(spec.type.fromToml(1.3), "1.3");
  assert.equal(spec.type.fromToml("1.2"), "1.2");
  assert.throws(() => spec.type.fromToml(1.1), /expected one of 1\.2, 1\.3/);
  assert.throws(() => spec.type.fromString("TLSv1.3"), /expected one of 1\.2, 1\.3/);
});
