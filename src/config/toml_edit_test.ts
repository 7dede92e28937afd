import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { setTomlKey, unsetTomlKey } from "./toml_edit.ts";

const REAL_LOOKING = `# thin-edge.io configuration
# Managed by the device team; keep comments.

[device]
# The certificate the cloud knows us by
cert_path = "/etc/tedge/device-certs/tedge-certificate.pem"   # PEM chain
key_path  =  '/etc/tedge/device-certs/tedge-private-key.pem'

[device.cryptoki]
mode = "off"

[c8y]
url = "example.cumulocity.com"
smartrest.templates = [
  "tpl-1", # first
  "tpl-2",
]

# Local broker
[mqtt.client]
port = 1883

[logs]
path = "/var/log/tedge"
`;

Deno.test("setTomlKey() replaces only the value text, keeping spacing and comments", () => {
  const out = setTomlKey(REAL_LOOKING, "device.cert_path", "/data/cert.pem");
  assert.equal(
    out,
    REAL_LOOKING.replace(
      '"/etc/tedge/device-certs/tedge-certificate.pem"',
      '"/data/cert.pem"',
    ),
  );
  const out2 = setTomlKey(REAL_LOOKING, "device.key_path", "/k.pem");
  assert.match(out2, /\nkey_path {2}= {2}"\/k.pem"\n/);
});

Deno.test("setTomlKey() replaces a multi-line array as a whole", () => {
  const out = setTomlKey(REAL_LOOKING, "c8y.smartrest.templates", ["x"]);
  assert.match(out, /\nsmartrest\.templates = \[ "x" \]\n\n# Local broker\n/);
  assert.deepEqual(JSON.parse(JSON.stringify(parse(out).c8y)), {
    url: "example.cumulocity.com",
    smartrest: { templates: ["x"] },
  });
});

Deno.test("setTomlKey() adds a new key at the end of its existing table", () => {
  const out = setTomlKey(REAL_LOOKING, "device.cryptoki.module_path", "/usr/lib/x.so");
  assert.match(
    out,
    /\[device.cryptoki\]\nmode = "off"\nmodule_path = "\/usr\/lib\/x.so"\n\n\[c8y\]/,
  );
  const out2 = setTomlKey(REAL_LOOKING, "mqtt.client.host", "127.0.0.1");
  assert.match(out2, /port = 1883\nhost = "127.0.0.1"\n\n\[logs\]/);
});

Deno.test("setTomlKey() writes a dotted key beside a dotted sibling", () => {
  const text = '[c8y]\nurl = "a"\nbridge.topic_prefix = "c8y"\n';
  const out = setTomlKey(text, "c8y.bridge.keepalive_interval", "30s");
  assert.equal(out, text + 'bridge.keepalive_interval = "30s"\n');
});

Deno.test("setTomlKey() adds a missing table at the end after a blank line", () => {
  assert.equal(setTomlKey("", "c8y.url", "a.example"), '[c8y]\nurl = "a.example"\n');
  assert.equal(
    setTomlKey('[device]\nid = "x"', "c8y.url", "a"),
    '[device]\nid = "x"\n\n[c8y]\nurl = "a"\n',
  );
});

Deno.test("setTomlKey() handles quoted keys, literal strings and inline tables", () => {
  const text =
    `[device]\n"id" = 'C:\\x' # c\n[c8y]\nbridge = { topic_prefix = "c8y", x = [1, 2] }\n`;
  assert.equal(setTomlKey(text, "device.id", "new"), text.replace(`'C:\\x'`, '"new"'));
  assert.equal(setTomlKey(text, "c8y.url", "u"), text + 'url = "u"\n');
  assert.throws(() => setTomlKey("[[c8y]]\nurl = 1\n", "c8y.url", "x"), /array of tables/);
});

Deno.test("setTomlKey() escapes values", () => {
  const out = setTomlKey("", "device.id", 'a"b\\c');
  assert.equal(parse(out).device && (parse(out).device as { id: string }).id, 'a"b\\c');
});

Deno.test("unsetTomlKey() removes the assignment line and nothing else", () => {
  const out = unsetTomlKey(REAL_LOOKING, "c8y.smartrest.templates");
  assert.equal(out, REAL_LOOKING.replace(/smartrest\.templates = \[\n[^\]]*\]\n/, ""));
  assert.equal(unsetTomlKey(REAL_LOOKING, "c8y.mqtt"), REAL_LOOKING);
});
