import assert from "node:assert/strict";
import { envName, keySpec, SCHEMA, suggestKeys } from "./schema.ts";

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
