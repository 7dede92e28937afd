/** `hsm-bridge check key`, run as a separate process. */
import assert from "node:assert/strict";
import { Device } from "./keys_cli_fixture.ts";

interface CheckJson {
  key: string;
  type: string;
  certificate: string;
  results: { scheme: string; verified: boolean; ms: number; tls12Only?: true }[];
}

Deno.test("check key signs with every scheme of a token key and verifies each with the certificate", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  const key = await dev.hsm.importNewKey(token, "rsa2048", { label: "device-key" });
  await dev.hsm.importNewKey(token, "p256", { label: "spare" });
  const certPath = await dev.issueCertificate(key.spki);
  // No object/id in the configuration: the key is chosen by the certificate.
  await dev.writeConfig(dev.moduleConfig({ "device.key_uri": "pkcs11:token=edge" }));
  const json = await dev.cli(["check", "key", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as CheckJson;
  assert.match(report.key, /object=device-key/);
  assert.equal(report.type, "RSA 2048");
  assert.equal(report.certificate, certPath);
  assert.deepEqual(report.results.map((r) => [r.scheme, r.verified, r.tls12Only]), [
    ["rsa_pss_rsae_sha256", true, undefined],
    ["rsa_pss_rsae_sha384", true, undefined],
    ["rsa_pss_rsae_sha512", true, undefined],
    // RSA PKCS#1 v1.5 through the token's CKM_SHA*_RSA_PKCS, for TLS 1.2 servers.
    ["rsa_pkcs1_sha256", true, true],
    ["rsa_pkcs1_sha384", true, true],
    ["rsa_pkcs1_sha512", true, true],
  ]);
  assert.ok(report.results.every((r) => typeof r.ms === "number" && r.ms >= 0));
  const text = await dev.cli(["check", "key"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Certificate: .*device\.crt \(public key matches\)/);
  assert.match(text.stdout, /^ {2}rsa_pss_rsae_sha512 +ok +\d+\.\d ms$/m);
  assert.match(text.stdout, /^ {2}rsa_pkcs1_sha256 +ok +\d+\.\d ms {2}\(TLS 1\.2 only\)$/m);
});

Deno.test("check key works with a file key and with the legacy enable/serial settings", async () => {
  await using dev = await Device.create();
  const file = await dev.pki.device("file", "edge-0001", { kind: "ed25519" });
  await dev.writeConfig({ "device.cert_path": file.certPath, "device.key_path": file.keyPath! });
  const r = await dev.cli(["check", "key", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as CheckJson).results.map((x) => [x.scheme, x.verified]), [
    [
      "ed25519",
      true,
    ],
  ]);

  // Seed-project config: enable = true means module mode; serial picks one of two tokens.
  await dev.hsm.initToken("a");
  const b = await dev.hsm.initToken("b");
  const key = await dev.hsm.importNewKey(b, "p384");
  await dev.issueCertificate(key.spki);
  const { "device.cryptoki.mode": _, ...legacy } = dev.moduleConfig({
    "device.cryptoki.enable": true,
    "device.cryptoki.serial": b.serial,
  });
  await dev.writeConfig(legacy);
  const l = await dev.cli(["check", "key", "--json"]);
  assert.equal(l.code, 0, l.stderr);
  assert.equal((JSON.parse(l.stdout) as CheckJson).type, "EC P-384");
});

Deno.test("check key uses the PIN precedence pin-value, then key_pin, then cryptoki.pin", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  const key = await dev.hsm.importNewKey(token, "p256");
  await dev.issueCertificate(key.spki);
  const cases: [Record<string, string>, number][] = [
    [{ "device.key_pin": "1234", "device.cryptoki.pin": "0000" }, 0],
    [{ "device.key_uri": "pkcs11:token=edge?pin-value=1234", "device.key_pin": "0001" }, 0],
    [{ "device.key_pin": "0002", "device.cryptoki.pin": "1234" }, 78],
  ];
  for (const [extra, code] of cases) {
    await dev.writeConfig(dev.moduleConfig(extra));
    const r = await dev.cli(["check", "key"]);
    assert.equal(r.code, code, `${JSON.stringify(extra)}: ${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /000[12]|pin-value=1234/);
  }
});

Deno.test("check key refuses a key that does not match the certificate with exit 78, naming both", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  await dev.hsm.importNewKey(token, "p256", { label: "device-key" });
  const other = await dev.pki.device("other", "edge-0001", { kind: "p256" });
  const certPath = await dev.issueCertificate(
    other.keys ? await spki(other.keys.publicKey) : new Uint8Array(),
  );
  await dev.writeConfig(dev.moduleConfig({ "device.key_uri": "pkcs11:object=device-key" }));
  const r = await dev.cli(["check", "key"]);
  assert.equal(r.code, 78);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /Private key "pkcs11:token=edge;.*object=device-key;.*" does not match the public key of certificate/,
  );
  assert.ok(r.stderr.includes(`"${certPath}"`), r.stderr);
  // And a file key that is not the certificate's.
  await dev.writeConfig({
    "device.cert_path": certPath,
    "device.key_path": (await dev.pki.device("x", "x")).keyPath!,
  });
  const f = await dev.cli(["check", "key"]);
  assert.equal(f.code, 78);
  assert.match(
    f.stderr,
    /Private key file ".*x\.key" \(EC P-256\) does not match the public key of certificate/,
  );
});

async function spki(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", key));
}
