import assert from "node:assert/strict";
import {
  certificateHostNames,
  formatIp,
  matchesDnsPattern,
  matchesServerName,
  parseIp,
  parseServerName,
} from "./mod.ts";
import { issue } from "./_test_pki.ts";

// [pattern in the certificate, server name, matches?]
const DNS_CASES: [string, string, boolean][] = [
  ["broker.example", "broker.example", true],
  ["Broker.Example", "broker.EXAMPLE", true],
  ["broker.example.", "broker.example", true],
  ["broker.example", "broker.example.", true],
  ["broker.example", "other.example", false],
  ["broker.example", "a.broker.example", false],
  ["broker.example", "broker.example.com", false],
  ["*.example.com", "a.example.com", true],
  ["*.example.com", "A.EXAMPLE.COM.", true],
  ["*.example.com", "xn--bcher-kva.example.com", true],
  ["*.example.com", "a.b.example.com", false],
  ["*.example.com", "example.com", false],
  ["*.example.com", "a.example.org", false],
  ["*.example.com.", "a.example.com", true],
  ["*.com", "example.com", false],
  ["*.local", "printer.local", false],
  ["*", "localhost", false],
  ["f*.com", "foo.com", false],
  ["f*.example.com", "foo.example.com", false],
  ["*o.example.com", "foo.example.com", false],
  ["a*b.example.com", "ab.example.com", false],
  ["a.*.example.com", "a.b.example.com", false],
  ["*.*.example.com", "a.b.example.com", false],
  ["**.example.com", "a.example.com", false],
  ["*.example.*", "a.example.com", false],
  ["*.", "a", false],
  ["", "broker.example", false],
  [".example.com", "a.example.com", false],
  ["*.example.com", "*.example.com", false],
];

for (const [pattern, host, expected] of DNS_CASES) {
  Deno.test(`matchesDnsPattern() "${pattern}" ${expected ? "matches" : "does not match"} "${host}"`, () => {
    const ref = parseServerName(host);
    const got = ref?.kind === "dns" ? matchesDnsPattern(pattern, ref.name) : false;
    assert.equal(got, expected);
  });
}

Deno.test("parseServerName() tells DNS names, IP literals and junk apart", () => {
  assert.deepEqual(parseServerName("Broker.Example."), { kind: "dns", name: "broker.example" });
  assert.deepEqual(parseServerName("localhost"), { kind: "dns", name: "localhost" });
  assert.deepEqual(parseServerName("_mqtt._tcp.example"), {
    kind: "dns",
    name: "_mqtt._tcp.example",
  });
  assert.deepEqual(parseServerName("127.0.0.1"), {
    kind: "ip",
    bytes: new Uint8Array([127, 0, 0, 1]),
  });
  assert.equal(parseServerName("[::1]")?.kind, "ip");
  for (
    const bad of [
      "",
      ".",
      "a..b",
      "-a.example",
      "a-.example",
      "a b",
      "é.example",
      "*.example",
      "1.2.3",
      "01.2.3.4",
      "1.2.3.4.5",
      "example.123",
      "a".repeat(64) + ".example",
      "fe80::1%eth0",
      "[::1",
      "a:b",
    ]
  ) {
    assert.equal(parseServerName(bad), null, bad);
  }
});

// [text, bytes as hex or null, canonical text]
const IP_CASES: [string, string | null, string?][] = [
  ["0.0.0.0", "00000000"],
  ["192.168.1.10", "c0a8010a"],
  ["255.255.255.255", "ffffffff"],
  ["256.1.1.1", null],
  ["1.2.3.04", null],
  ["::", "00000000000000000000000000000000"],
  ["::1", "00000000000000000000000000000001"],
  ["1::", "00010000000000000000000000000000"],
  ["2001:db8::8:800:200c:417a", "20010db80000000000080800200c417a"],
  ["2001:DB8:0:0:8:800:200C:417A", "20010db80000000000080800200c417a", "2001:db8::8:800:200c:417a"],
  ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "::ffff:c000:201"],
  ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
  ["1:0:0:2:0:0:0:3", "00010000000000020000000000000003", "1:0:0:2::3"],
  ["1:2:3:4:5:6:7::", "00010002000300040005000600070000", "1:2:3:4:5:6:7:0"],
  ["1:2:3:4:5:6:7:8:9", null],
  ["1::2::3", null],
  [":1::", null],
  ["12345::", null],
  ["::1.2.3", null],
  ["g::", null],
];

Deno.test("parseIp() and formatIp() follow RFC 4291 and RFC 5952", () => {
  for (const [text, hex, canonical] of IP_CASES) {
    const bytes = parseIp(text);
    if (hex === null) {
      assert.equal(bytes, null, text);
      continue;
    }
    assert.equal(Array.from(bytes!, (b) => b.toString(16).padStart(2, "0")).join(""), hex, text);
    assert.equal(formatIp(bytes!), canonical ?? text, text);
  }
});

Deno.test("matchesServerName() uses SAN DNS names, and IP SANs only for IP literals", async () => {
  const { cert } = await issue({
    subject: "CN=ignored.example",
    dns: ["broker.example", "*.broker.example", "10.0.0.7"],
    ips: ["192.0.2.1", "2001:db8::1"],
  });
  const table: [string, boolean][] = [
    ["broker.example", true],
    ["mqtt.broker.example", true],
    ["ignored.example", false], // a SAN is present: no CN fallback
    ["192.0.2.1", true],
    ["2001:db8::1", true],
    ["[2001:DB8:0::1]", true],
    ["2001:db8::2", false],
    ["10.0.0.7", false], // an IP only matches iPAddress entries
    ["::ffff:192.0.2.1", false], // v4-mapped v6 is another address
    ["not a name", false],
  ];
  for (const [name, expected] of table) assert.equal(matchesServerName(cert, name), expected, name);
  assert.deepEqual(certificateHostNames(cert), [
    "broker.example",
    "*.broker.example",
    "10.0.0.7",
    "192.0.2.1",
    "2001:db8::1",
  ]);
});

Deno.test("matchesServerName() never takes a name from the common name (RFC 9525)", async () => {
  const noSan = await issue({ subject: "CN=*.broker.example, O=Acme" });
  assert.equal(matchesServerName(noSan.cert, "a.broker.example"), false);
  assert.equal(matchesServerName(noSan.cert, "broker.example"), false);
  assert.deepEqual(certificateHostNames(noSan.cert), []);
  const cnHost = await issue({ subject: "CN=broker.example" });
  assert.equal(matchesServerName(cnHost.cert, "broker.example"), false);
  const ipCn = await issue({ subject: "CN=192.0.2.1" });
  assert.equal(matchesServerName(ipCn.cert, "192.0.2.1"), false); // never an IP from the CN
  const ipOnly = await issue({ subject: "CN=broker.example", ips: ["192.0.2.1"] });
  assert.equal(matchesServerName(ipOnly.cert, "broker.example"), false);
  assert.equal(matchesServerName(ipOnly.cert, "192.0.2.1"), true);
});
