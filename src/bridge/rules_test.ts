import assert from "node:assert/strict";
import { BridgeRule, BridgeRules } from "./rules.ts";
import { c8yRules } from "./c8y.ts";

Deno.test("BridgeRule.parse() takes prefixes from the file unless the rule has its own", () => {
  const defaults = { local_prefix: "c8y/", remote_prefix: "" };
  const a = BridgeRule.parse({ topic: "s/us/#", direction: "outbound" }, defaults);
  assert.equal(a.localFilter.filter, "c8y/s/us/#");
  assert.equal(a.remoteFilter.filter, "s/us/#");
  const b = BridgeRule.parse(
    { topic: "#", direction: "outbound", local_prefix: "c8y/mqtt/out/" },
    defaults,
  );
  assert.equal(b.localFilter.filter, "c8y/mqtt/out/#");
  assert.equal(b.remotePrefix, "");
});

const BAD_RULES: [Record<string, unknown>, RegExp][] = [
  [{ direction: "outbound" }, /"topic" must be a string, got nothing/],
  [{ topic: 3, direction: "outbound" }, /"topic" must be a string, got number/],
  [{ topic: "", direction: "outbound" }, /"topic" must not be empty/],
  [{ topic: "a/#/b", direction: "outbound" }, /"topic" is an invalid MQTT topic filter/],
  [
    { topic: "a", direction: "out" },
    /"direction" must be one of inbound, outbound, bidirectional, got "out"/,
  ],
  [{ topic: "a" }, /"direction" must be one of .* got nothing/],
  [
    { topic: "a", direction: "inbound", local_prefix: "c8y/+/" },
    /"local_prefix" "c8y\/\+\/" must not contain/,
  ],
  [{ topic: "a", direction: "inbound", remote_prefix: 7 }, /"remote_prefix" must be a string/],
];

for (const [raw, message] of BAD_RULES) {
  Deno.test(`BridgeRule.parse() rejects ${JSON.stringify(raw)}`, () => {
    assert.throws(
      () => BridgeRule.parse(raw, { local_prefix: "c8y/", remote_prefix: "" }),
      message,
    );
  });
}

Deno.test("BridgeRule.parse() requires both prefixes somewhere", () => {
  assert.throws(
    () => BridgeRule.parse({ topic: "a", direction: "inbound" }, { remote_prefix: "" }),
    /"local_prefix" is missing/,
  );
  assert.throws(
    () => BridgeRule.parse({ topic: "a", direction: "inbound" }, { local_prefix: "" }),
    /"remote_prefix" is missing/,
  );
});

const c8y = new BridgeRules(c8yRules("c8y", ["tmpl1", "tmpl-2"]));

// [local topic, cloud topic or undefined]
const OUTBOUND: [string, string | undefined][] = [
  ["c8y/s/us", "s/us"],
  ["c8y/s/us/child-1", "s/us/child-1"],
  ["c8y/t/us/x", "t/us/x"],
  ["c8y/s/uat", "s/uat"],
  ["c8y/measurement/measurements/create", "measurement/measurements/create"],
  ["c8y/alarm/alarms/createBulk/a/b", "alarm/alarms/createBulk/a/b"],
  ["c8y/inventory/managedObjects/update/123", "inventory/managedObjects/update/123"],
  ["c8y/s/ds", undefined], // inbound only
  ["c8y/s/uat/x", undefined],
  ["c8y/unknown", undefined],
  ["s/us", undefined], // no prefix
  ["te/device/main///m/", undefined],
];

for (const [local, remote] of OUTBOUND) {
  Deno.test(`BridgeRules.routeToRemote() maps "${local}" to ${remote ?? "nothing"}`, () => {
    assert.equal(c8y.routeToRemote(local)?.topic, remote);
    assert.equal(c8y.routeToRemote(local)?.topic, remote, "second (cached) lookup");
  });
}

const INBOUND: [string, string | undefined][] = [
  ["s/ds", "c8y/s/ds"],
  ["s/dt", "c8y/s/dt"],
  ["s/e", "c8y/s/e"],
  ["s/dat", "c8y/s/dat"],
  ["devicecontrol/notifications", "c8y/devicecontrol/notifications"],
  ["error", "c8y/error"],
  ["s/dc/tmpl1", "c8y/s/dc/tmpl1"],
  ["s/dc/tmpl-2", "c8y/s/dc/tmpl-2"],
  ["s/dc/other", undefined],
  ["s/us", undefined],
  ["s/ds/x", undefined],
];

for (const [remote, local] of INBOUND) {
  Deno.test(`BridgeRules.routeToLocal() maps "${remote}" to ${local ?? "nothing"}`, () => {
    assert.equal(c8y.routeToLocal(remote)?.topic, local);
  });
}

Deno.test("BridgeRules lists each subscription once, per side", () => {
  const rules = new BridgeRules([
    BridgeRule.of("a/#", "outbound", "p/"),
    BridgeRule.of("a/#", "outbound", "p/"), // exact duplicate: dropped
    BridgeRule.of("b", "bidirectional", "p/"),
    BridgeRule.of("c", "inbound", "p/", "r/"),
  ]);
  assert.equal(rules.rules.length, 3);
  assert.deepEqual(rules.localSubscriptions(), ["p/a/#", "p/b"]);
  assert.deepEqual(rules.remoteSubscriptions(), ["b", "r/c"]);
  assert.deepEqual(c8y.remoteSubscriptions().slice(0, 3), ["s/dc/tmpl1", "s/dc/tmpl-2", "s/dt"]);
  assert.equal(c8y.localSubscriptions().length, 17);
});

Deno.test("BridgeRules: the first matching rule wins", () => {
  const rules = new BridgeRules([
    BridgeRule.of("x/special", "outbound", "p/", "first/"),
    BridgeRule.of("x/#", "outbound", "p/", "second/"),
  ]);
  assert.equal(rules.routeToRemote("p/x/special")?.topic, "first/x/special");
  assert.equal(rules.routeToRemote("p/x/other")?.topic, "second/x/other");
});

Deno.test("BridgeRules does not map a prefix's parent level to an empty or foreign topic", () => {
  const rules = new BridgeRules([BridgeRule.of("#", "outbound", "c8y/mqtt/out/")]);
  assert.equal(rules.routeToRemote("c8y/mqtt/out/a/b")?.topic, "a/b");
  assert.equal(rules.routeToRemote("c8y/mqtt/out"), undefined);
});

Deno.test("BridgeRules knows which published topics echo back (bidirectional rules)", () => {
  const rules = new BridgeRules([
    BridgeRule.of("both/#", "bidirectional", "p/"),
    BridgeRule.of("up", "outbound", "p/"),
  ]);
  assert.equal(rules.echoesFromRemote("both/x"), true);
  assert.equal(rules.echoesFromRemote("up"), false);
  assert.equal(rules.echoesFromLocal("p/both/x"), true);
  assert.equal(rules.echoesFromLocal("p/up"), true);
  assert.equal(c8y.echoesFromRemote("s/us"), false);
});
