import assert from "node:assert/strict";
import { exitCodeOf } from "../errors.ts";
import { loadRuleDir, parseRuleFile, RuleFileError } from "./rule_file.ts";
import { BridgeRules } from "./rules.ts";
import { c8yRules } from "./c8y.ts";

const CONFIG: Record<string, unknown> = {
  "c8y.bridge.topic_prefix": "c8y",
  "c8y.smartrest.templates": ["t1", "t2"],
  "feature.on": true,
  "feature.off": "false",
};
const ctx = { config: (key: string) => CONFIG[key] };

Deno.test("parseRuleFile() reads prefixes, rules and per-rule prefixes", () => {
  const rules = parseRuleFile(
    `
local_prefix = "c8y/"
remote_prefix = ""

[[rule]]
topic = "s/us/#"
direction = "outbound"

[[rule]]
topic = "x/+"
direction = "bidirectional"
local_prefix = "edge/"
remote_prefix = "cloud/"
`,
    "a.toml",
    ctx,
  );
  assert.deepEqual(rules.map(String), [
    "outbound c8y/s/us/# <-> s/us/#",
    "bidirectional edge/x/+ <-> cloud/x/+",
  ]);
});

Deno.test("parseRuleFile() expands thin-edge's templates, loops and conditions", () => {
  const rules = parseRuleFile(
    `
local_prefix = "\${config.c8y.bridge.topic_prefix}/"
remote_prefix = ""

[[template_rule]]
for = "\${config.c8y.smartrest.templates}"
topic = "s/dc/\${item}"
direction = "inbound"

[[template_rule]]
for = ['s', 't']
topic = "\${@for}/us/#"
direction = "outbound"

[[template_rule]]
for = "\${config.c8y.smartrest1.templates}"
topic = "s/dl/\${item}"
direction = "inbound"

[[rule]]
if = "auth_method(certificate)"
topic = "s/uat"
direction = "outbound"

[[rule]]
if = "\${connection.auth_method} == 'password'"
topic = "s/ul/#"
direction = "outbound"

[[rule]]
if = "\${config.feature.on}"
topic = "on"
direction = "outbound"

[[rule]]
if = "!\${config.feature.off}"
topic = "not-off"
direction = "outbound"

[[rule]]
if = "\${config.c8y.mqtt_service.enabled}"
topic = "#"
direction = "outbound"
`,
    "mqtt-core.toml",
    ctx,
  );
  assert.deepEqual(rules.map((r) => `${r.direction} ${r.localFilter}`), [
    "outbound c8y/s/uat",
    "outbound c8y/on",
    "outbound c8y/not-off",
    "inbound c8y/s/dc/t1",
    "inbound c8y/s/dc/t2",
    "outbound c8y/s/us/#",
    "outbound c8y/t/us/#",
  ]);
});

Deno.test("parseRuleFile() of thin-edge's defaults adds nothing new to the built-in rules", () => {
  // The same rules as thin-edge's c8y/bridge/smartrest.toml, in its template form.
  const text = `
local_prefix = "\${config.c8y.bridge.topic_prefix}/"
remote_prefix = ""
[[template_rule]]
for = "\${config.c8y.smartrest.templates}"
topic = "s/dc/\${@for}"
direction = "inbound"
${
    ["s/dat", "s/dt", "s/ds", "s/e", "devicecontrol/notifications", "error"].map((t) =>
      `[[rule]]\ntopic = "${t}"\ndirection = "inbound"\n`
    ).join("")
  }
[[template_rule]]
for = ['s', 't', 'q', 'c']
topic = "\${@for}/us/#"
direction = "outbound"
[[template_rule]]
for = ['s', 't', 'q', 'c']
topic = "\${@for}/uc/#"
direction = "outbound"
${
    [
      "s/ut/#",
      "s/uat",
      "inventory/managedObjects/update/#",
      "measurement/measurements/create/#",
      "measurement/measurements/createBulk/#",
      "event/events/create/#",
      "event/events/createBulk/#",
      "alarm/alarms/create/#",
      "alarm/alarms/createBulk/#",
    ].map((t) => `[[rule]]\ntopic = "${t}"\ndirection = "outbound"\n`).join("")
  }`;
  const builtIn = c8yRules("c8y", ["t1", "t2"]);
  const fromFile = parseRuleFile(text, "smartrest.toml", ctx);
  assert.equal(fromFile.length, builtIn.length);
  assert.equal(new BridgeRules([...builtIn, ...fromFile]).rules.length, builtIn.length);
});

// [file text, expected message]
const BAD_FILES: [string, RegExp][] = [
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\ntopic = "a"\ndirection = "outbound"\n` +
    `[[rule]]\ntopic = "b"\ndirection = "sideways"\n`,
    /^Invalid bridge rule file "bad.toml": rule 2: "direction" must be one of inbound, outbound, bidirectional, got "sideways"$/,
  ],
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\ntopic = "a/#/b"\ndirection = "outbound"\n`,
    /^Invalid bridge rule file "bad.toml": rule 1: "topic" is an invalid MQTT topic filter "c8y\/a\/#\/b"|"a\/#\/b"/,
  ],
  [
    `local_prefix = "c8y/"\n[[rule]]\ntopic = "a"\ndirection = "outbound"\n`,
    /^Invalid bridge rule file "bad.toml": rule 1: "remote_prefix" is missing/,
  ],
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\ntopic = "a"\ndirection = "outbound"\nqos = 1\n`,
    /rule 1: unknown key "qos" in a rule/,
  ],
  [`local_prefix = "c8y/"\nremote_prefix = ""\nrules = []\n`, /: unknown key "rules" in the file/],
  [
    `local_prefix = "c8y/\nremote_prefix = ""\n`,
    /^Invalid bridge rule file "bad.toml": line 1, column \d+: /,
  ],
  [
    `local_prefix = "\${config.nope}/"\nremote_prefix = ""\n`,
    /"bad.toml": \$\{config.nope\} refers to a setting that is not set/,
  ],
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[template_rule]]\ntopic = "s/\${item}"\ndirection = "inbound"\n`,
    /template_rule 1: "for" is missing/,
  ],
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\ntopic = "s/\${item}"\ndirection = "inbound"\n`,
    /rule 1: "topic" uses \$\{item\} outside a template_rule/,
  ],
  [
    `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\nif = "1 == 1"\ntopic = "a"\ndirection = "inbound"\n`,
    /rule 1: "if" condition "1 == 1" is not supported/,
  ],
  [`rule = 3\n`, /"rule" must be an array of tables/],
];

for (const [text, message] of BAD_FILES) {
  Deno.test(`parseRuleFile() refuses ${JSON.stringify(text.slice(0, 60))}...`, () => {
    assert.throws(
      () => parseRuleFile(text, "bad.toml", ctx),
      (e: unknown) => {
        assert.ok(e instanceof RuleFileError);
        assert.match(e.message, message);
        assert.equal(exitCodeOf(e), 78);
        assert.equal(e.file, "bad.toml");
        return true;
      },
    );
  });
}

Deno.test("loadRuleDir() reads *.toml in name order and ignores a missing directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rule = (t: string) =>
      `local_prefix = "c8y/"\nremote_prefix = ""\n[[rule]]\ntopic = "${t}"\ndirection = "outbound"\n`;
    await Deno.writeTextFile(`${dir}/b.toml`, rule("b"));
    await Deno.writeTextFile(`${dir}/a.toml`, rule("a"));
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a rule file");
    const rules = await loadRuleDir(dir, ctx);
    assert.deepEqual(rules.map((r) => r.topic), ["a", "b"]);
    assert.deepEqual(await loadRuleDir(`${dir}/missing`, ctx), []);
    await Deno.writeTextFile(`${dir}/c.toml`, rule("c/#/d"));
    await assert.rejects(
      () => loadRuleDir(dir, ctx),
      (e: unknown) =>
        e instanceof RuleFileError && e.file === `${dir}/c.toml` && e.rule === "rule 1",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
