import assert from "node:assert/strict";
import { COMMON_NAME, decodeTime, formatName, nameValues } from "./_name.ts";
import { encodeTlv, oid, seq, set } from "./der.ts";
import { issue } from "./_test_pki.ts";

const te = new TextEncoder();
const atv = (type: string, tag: number, value: Uint8Array) => seq(oid(type), encodeTlv(tag, value));
const utf8 = (type: string, text: string) => atv(type, 0x0c, te.encode(text));
const printable = (type: string, text: string) => atv(type, 0x13, te.encode(text));

Deno.test("formatName() writes RDNs in order, short names, + for multi-valued RDNs", () => {
  const name = seq(
    set(printable("2.5.4.6", "DE")),
    set(utf8("2.5.4.10", "Acme, Inc.")),
    set(utf8("2.5.4.11", "Ops"), utf8("0.9.2342.19200300.100.1.1", "u1")),
    set(utf8("2.5.4.3", "#broker ")),
  );
  assert.equal(
    formatName(name),
    "C=DE, O=Acme\\, Inc., OU=Ops+0.9.2342.19200300.100.1.1=u1, CN=\\#broker\\ ",
  );
  assert.equal(formatName(seq()), "");
});

Deno.test("formatName() decodes the directory string types and hex-encodes others", () => {
  const bmp = new Uint8Array([0x00, 0x41, 0x00, 0xe9]); // "Aé" in UTF-16BE
  const name = seq(
    set(atv("2.5.4.3", 0x1e, bmp)),
    set(atv("2.5.4.10", 0x14, new Uint8Array([0x4d, 0xfc]))), // TeletexString, Latin-1 "Mü"
    set(atv("2.5.4.11", 0x02, new Uint8Array([1]))), // an INTEGER: not a string
    set(utf8("2.5.4.7", "line\nbreak")),
  );
  assert.equal(formatName(name), "CN=Aé, O=Mü, OU=#020101, L=line\\0Abreak");
});

Deno.test("nameValues() lists every value of one attribute type", () => {
  const name = seq(
    set(utf8(COMMON_NAME, "a")),
    set(utf8("2.5.4.10", "o")),
    set(utf8(COMMON_NAME, "b")),
  );
  assert.deepEqual(nameValues(name, COMMON_NAME), ["a", "b"]);
  assert.deepEqual(nameValues(name, "2.5.4.11"), []);
});

Deno.test("formatName() refuses malformed names", () => {
  assert.throws(() => formatName(seq(set())), /expected 1 elements, found 0/);
  assert.throws(() => formatName(seq(seq(utf8(COMMON_NAME, "x")))), /expected tag 0x31/);
  assert.throws(() => formatName(seq(set(atv(COMMON_NAME, 0x0c, new Uint8Array([0xff]))))));
});

Deno.test("decodeTime() reads RFC 5280 UTCTime and GeneralizedTime only", () => {
  const utc = (s: string) =>
    decodeTime({ tag: 0x17, value: te.encode(s), bytes: new Uint8Array() });
  const gen = (s: string) =>
    decodeTime({ tag: 0x18, value: te.encode(s), bytes: new Uint8Array() });
  assert.equal(utc("491231235959Z").toISOString(), "2049-12-31T23:59:59.000Z");
  assert.equal(utc("500101000000Z").toISOString(), "1950-01-01T00:00:00.000Z");
  assert.equal(gen("20500101120000Z").toISOString(), "2050-01-01T12:00:00.000Z");
  for (const bad of ["4912312359Z", "491231235959+0100", "491231235959", "490230000000Z"]) {
    assert.throws(() => utc(bad), /bad (UTCTime|time)/, bad);
  }
  for (const bad of ["20500101120000.5Z", "205001011200Z", "20501301120000Z"]) {
    assert.throws(() => gen(bad), /bad (GeneralizedTime|time)/, bad);
  }
  assert.throws(() => decodeTime({ tag: 0x04, value: new Uint8Array(), bytes: new Uint8Array() }));
});

Deno.test("parseCertificate() reads subject, issuer, serial and dates as @peculiar/x509 does", async () => {
  const notBefore = new Date("2026-01-02T03:04:05Z");
  const notAfter = new Date("2049-12-31T23:59:59Z");
  const ca = await issue({ subject: "CN=Test CA, O=Acme, C=DE", slot: 40 });
  const leaf = await issue({
    subject: "CN=broker.example, OU=Cloud+OU=MQTT, O=Acme",
    issuer: ca,
    slot: 41,
    notBefore,
    notAfter,
    serial: "00ff01",
  });
  for (const i of [ca, leaf]) {
    assert.equal(i.cert.subject, i.generated.subject);
    assert.equal(i.cert.issuer, i.generated.issuer);
    assert.equal(i.cert.serialNumber, i.generated.serialNumber);
    assert.equal(i.cert.notBefore.getTime(), i.generated.notBefore.getTime());
    assert.equal(i.cert.notAfter.getTime(), i.generated.notAfter.getTime());
  }
  assert.equal(leaf.cert.notAfter.toISOString(), notAfter.toISOString());
  assert.deepEqual(leaf.cert.commonNames, ["broker.example"]);
});
