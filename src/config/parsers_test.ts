import assert from "node:assert/strict";
import {
  absPath,
  boolType,
  durationType,
  entityTopicIdType,
  enumType,
  formatDuration,
  formatSize,
  hostType,
  parseDuration,
  parseHostPort,
  parseSize,
  pkcs11UriType,
  portType,
  positiveDurationType,
  secretType,
  stringListType,
  topicLevelType,
  topicPrefixType,
  u32Type,
} from "./parsers.ts";

Deno.test("parseDuration() reads plain seconds and unit combinations", () => {
  const cases: [string, number][] = [
    ["30", 30_000],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["1m30s", 90_000],
    [" 60s ", 60_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

Deno.test("parseDuration() refuses other text with what it expects", () => {
  for (const bad of ["", "s", "5x", "-5s", "1.5h", "5 m", "m5"]) {
    assert.throws(() => parseDuration(bad), {
      name: "RangeError",
      message: "expected a duration like 30, 30s, 5m, 1h or 1h30m",
    }, bad);
  }
});

Deno.test("formatDuration() writes the shortest text and round-trips", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(60_000), "1m");
  assert.equal(formatDuration(5_400_000), "1h30m");
  assert.equal(formatDuration(1_250), "1s250ms");
  for (const ms of [1, 999, 61_000, 7_201_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  assert.equal(durationType.toToml(30_000), "30s");
});

Deno.test("portType and u32Type check their ranges", () => {
  assert.equal(portType.fromString("1883"), 1883);
  assert.equal(portType.fromToml(8883), 8883);
  for (const bad of ["0", "65536", "-1", "80a", "", "1e3"]) {
    assert.throws(() => portType.fromString(bad), /expected a port number 1-65535/, bad);
  }
  assert.equal(u32Type.fromString("4294967295"), 4294967295);
  assert.throws(() => u32Type.fromString("4294967296"), /expected an integer 0-4294967295/);
});

Deno.test("boolType accepts true/false as text and as TOML booleans", () => {
  assert.equal(boolType.fromString("TRUE"), true);
  assert.equal(boolType.fromToml(false), false);
  assert.throws(() => boolType.fromString("yes"), /expected true or false/);
});

Deno.test("absPath refuses relative paths", () => {
  assert.equal(absPath.fromString("/etc/tedge/x.pem"), "/etc/tedge/x.pem");
  assert.throws(() => absPath.fromString("etc/x.pem"), /expected an absolute path/);
  assert.throws(() => absPath.fromToml(5), /expected an absolute path/);
});

Deno.test("hostType refuses a scheme, a port or a path", () => {
  for (const ok of ["example.cumulocity.com", "127.0.0.1", "::1", "localhost", "a-b.example."]) {
    assert.equal(hostType.fromString(ok), ok);
  }
  for (const bad of ["https://example.com", "example.com:8883", "example.com/x", "-a.com", ""]) {
    assert.throws(() => hostType.fromString(bad), /expected a host name or IP address/, bad);
  }
});

Deno.test("parseHostPort() reads host, host:port and bracketed IPv6", () => {
  assert.deepEqual(parseHostPort("mqtt.example.com"), { host: "mqtt.example.com", port: 8883 });
  assert.deepEqual(parseHostPort("mqtt.example.com:1884"), {
    host: "mqtt.example.com",
    port: 1884,
  });
  assert.deepEqual(parseHostPort("[::1]:8884"), { host: "::1", port: 8884 });
  assert.deepEqual(parseHostPort("[::1]"), { host: "::1", port: 8883 });
  for (const bad of ["a:b:c", "host:0", "host:99999", "mqtts://host", "[zz]:1"]) {
    assert.throws(() => parseHostPort(bad), /expected host\[:port\]/, bad);
  }
});

Deno.test("stringListType reads comma lists and TOML arrays", () => {
  assert.deepEqual(stringListType.fromString("a, b,,c"), ["a", "b", "c"]);
  assert.deepEqual(stringListType.fromString(""), []);
  assert.deepEqual(stringListType.fromToml(["x", "y"]), ["x", "y"]);
  assert.throws(() => stringListType.fromToml([1]), /expected a comma-separated list/);
});

Deno.test("topicPrefixType refuses wildcards and empty prefixes", () => {
  assert.equal(topicPrefixType.fromString("c8y"), "c8y");
  assert.equal(topicPrefixType.fromString("cloud/c8y"), "cloud/c8y");
  for (const bad of ["", "c8y/#", "+", "/c8y", "c8y/"]) {
    assert.throws(() => topicPrefixType.fromString(bad), /expected a topic prefix/, bad);
  }
});

Deno.test("enumType names the accepted values", () => {
  const t = enumType(["off", "module", "socket"]);
  assert.equal(t.fromString("module"), "module");
  assert.throws(() => t.fromString("on"), { message: "expected one of off, module, socket" });
});

Deno.test("pkcs11UriType accepts RFC 7512 syntax and refuses anything else", () => {
  for (
    const ok of [
      "pkcs11:",
      "pkcs11:token=edge;object=device-key",
      "pkcs11:object=my%20key;type=private?pin-value=1234",
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.",
      "pkcs11:id=%01%02;serial=4762300fd98237c9",
    ]
  ) assert.equal(pkcs11UriType.fromString(ok), ok);
  for (const bad of ["pkcs11", "http://x", "pkcs11:token", "pkcs11:token=a b", "pkcs11:id=%zz"]) {
    assert.throws(() => pkcs11UriType.fromString(bad), /expected a PKCS#11 URI/, bad);
  }
});

Deno.test("secretType keeps the value in a Secret", () => {
  const s = secretType.fromString("123456");
  assert.equal(String(s), "[redacted]");
  assert.equal(s.expose(), "123456");
  assert.equal(secretType.toToml(s), "123456");
});

Deno.test("positiveDurationType refuses zero", () => {
  assert.equal(positiveDurationType.fromString("1s"), 1000);
  assert.throws(() => positiveDurationType.fromString("0"), /expected a duration above zero/);
  assert.throws(() => positiveDurationType.fromToml("0s"), /expected a duration above zero/);
});

Deno.test("topicLevelType and entityTopicIdType follow thin-edge's topic scheme", () => {
  assert.equal(topicLevelType.fromString("te"), "te");
  for (const bad of ["", "te/x", "te/#", "+"]) {
    assert.throws(() => topicLevelType.fromString(bad), /expected one MQTT topic level/, bad);
  }
  for (const ok of ["device/main//", "device/child1/service/app"]) {
    assert.equal(entityTopicIdType.fromString(ok), ok);
  }
  for (const bad of ["foo", "device/main", "device//x/y", "/main//", "device/+//"]) {
    assert.throws(
      () => entityTopicIdType.fromString(bad),
      /expected a topic id of four levels/,
      bad,
    );
  }
});

Deno.test("pkcs11UriType redacts a pin-value for display", () => {
  assert.equal(
    pkcs11UriType.redact!("pkcs11:object=k?pin-value=1234"),
    "pkcs11:object=k?pin-value=[redacted]",
  );
});

Deno.test("parseSize() reads bytes, decimal and binary units, and formatSize() writes them back", () => {
  const cases: [string, number, string][] = [
    ["64MB", 64_000_000, "64MB"],
    ["64 mb", 64_000_000, "64MB"],
    ["512KiB", 524_288, "512KiB"],
    ["1GB", 1e9, "1GB"],
    ["65536", 65_536, "64KiB"],
    ["70000B", 70_000, "70KB"],
  ];
  for (const [text, bytes, shown] of cases) {
    assert.equal(parseSize(text), bytes, text);
    assert.equal(formatSize(bytes), shown, text);
  }
});

Deno.test("parseSize() refuses other text and sizes under 64KiB with what it expects", () => {
  for (const bad of ["", "MB", "1.5GB", "-1MB", "64XB", "10KB", "65535"]) {
    assert.throws(() => parseSize(bad), {
      name: "RangeError",
      message: "expected a size of at least 64KiB like 64MB, 512KiB or 1GB (KB = 1000, KiB = 1024)",
    }, bad);
  }
});
