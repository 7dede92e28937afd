import assert from "node:assert/strict";
import { bridgeServiceName, c8yRules, c8yServiceMessage, checkTopicPrefix } from "./c8y.ts";
import { healthDownPayload, healthPayload, serviceHealthTopic } from "./health.ts";

Deno.test("c8yServiceMessage() is thin-edge's 102 line", () => {
  assert.equal(
    c8yServiceMessage("dev-1", "up"),
    "102,dev-1:device:main:service:tedge-mapper-c8y,service,tedge-mapper-c8y,up",
  );
  assert.equal(
    c8yServiceMessage("dev-1", "down", { prefix: "c8y2", serviceType: "systemd" }),
    "102,dev-1:device:main:service:tedge-mapper-c8y2,systemd,tedge-mapper-c8y2,down",
  );
});

Deno.test("serviceHealthTopic() builds the main device's service health topic", () => {
  assert.equal(
    serviceHealthTopic(bridgeServiceName()),
    "te/device/main/service/tedge-mapper-bridge-c8y/status/health",
  );
  assert.equal(
    serviceHealthTopic("x", { topicRoot: "tedge", deviceTopicId: "device/gw//" }),
    "tedge/device/gw/service/x/status/health",
  );
  assert.throws(() => serviceHealthTopic("x", { deviceTopicId: "" }), /Invalid device topic id/);
});

Deno.test("healthPayload() is thin-edge's JSON", () => {
  assert.equal(healthPayload(true), '{"status":"up"}');
  assert.equal(healthPayload(false), '{"status":"down"}');
  assert.deepEqual(JSON.parse(healthDownPayload('PIN locked for token "edge"')), {
    status: "down",
    reason: 'PIN locked for token "edge"',
  });
});

Deno.test("checkTopicPrefix() refuses empty, wildcard and slash-ended prefixes", () => {
  for (const bad of ["", "c8y/", "/c8y", "c+", "c#"]) {
    assert.throws(() => checkTopicPrefix(bad), /Invalid bridge topic prefix/);
  }
  assert.equal(checkTopicPrefix("c8y-2"), "c8y-2");
});

Deno.test("c8yRules() uses the prefix for every local topic", () => {
  const rules = c8yRules("edge", ["a"]);
  assert.ok(rules.every((r) => r.localPrefix === "edge/" && r.remotePrefix === ""));
  assert.equal(rules[0].topic, "s/dc/a");
  assert.equal(rules.length, 1 + 6 + 17);
});
