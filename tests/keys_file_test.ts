import assert from "node:assert/strict";
import { exitCodeOf } from "../src/errors.ts";
import { KeyFileError, loadFileKey, SignatureScheme } from "../src/keys/mod.ts";
import { run, tempDir } from "./helpers/process.ts";
import { KEY_KINDS, type KeyKind, TestPki } from "./helpers/pki.ts";
import { EXPECTED, signingKeyContract } from "./keys_contract.ts";

const S = SignatureScheme;

Deno.test("file keys of every type satisfy the SigningKey contract", async (t) => {
  await using dir = await tempDir();
  const pki = await TestPki.create(dir.path);
  for (const kind of KEY_KINDS) {
    await t.step(`PKCS#8 ${kind}`, async (t) => {
      const device = await pki.device(`device-${kind}`, `device-${kind}`, { kind });
      const key = await loadFileKey(device.keyPath!);
      await signingKeyContract(t, key, {
        certificatePem: device.certPem,
        ...EXPECTED[kind],
      });
      await key.close();
    });
  }
});

Deno.test("file keys in SEC1, PKCS#1 and P-521 form satisfy the SigningKey contract", async (t) => {
  await using dir = await tempDir();
  const pki = await TestPki.create(dir.path);
  const cases: [string, KeyKind | "p521", string[]][] = [
    ["SEC1 P-256", "p256", ["ec"]],
    ["SEC1 P-384", "p384", ["ec"]],
    ["PKCS#1 RSA 2048", "rsa2048", ["rsa", "-traditional"]],
  ];
  for (const [name, kind, convert] of cases) {
    await t.step(name, async (t) => {
      const device = await pki.device(`d-${kind}`, "d", { kind: kind as KeyKind });
      const out = `${dir.path}/${kind}.legacy.pem`;
      await run("openssl", [...convert, "-in", device.keyPath!, "-out", out]);
      const label = kind.startsWith("rsa") ? "RSA PRIVATE KEY" : "EC PRIVATE KEY";
      assert.match(await Deno.readTextFile(out), new RegExp(`BEGIN ${label}`));
      const key = await loadFileKey(out);
      await signingKeyContract(t, key, {
        certificatePem: device.certPem,
        ...EXPECTED[kind as KeyKind],
      });
    });
  }
  await t.step("PKCS#8 P-521 (from openssl, EC PARAMETERS block first)", async (t) => {
    const keyPath = `${dir.path}/p521.pem`;
    await run("openssl", ["ecparam", "-name", "secp521r1", "-genkey", "-out", keyPath]);
    const pub = await run("openssl", ["pkey", "-in", keyPath, "-pubout"]);
    const der = Uint8Array.from(
      atob(pub.stdout.replace(/-----[^-]+-----|\s/g, "")),
      (c) => c.charCodeAt(0),
    );
    const device = await pki.device("p521", "p521", { publicKeySpki: der });
    const key = await loadFileKey(keyPath);
    await signingKeyContract(t, key, {
      certificatePem: device.certPem,
      schemes: [S.ecdsa_secp521r1_sha512],
      keyType: { kind: "ec", curve: "P-521" },
    });
  });
});

async function expectFileError(path: string, re: RegExp): Promise<void> {
  await assert.rejects(loadFileKey(path), (e: unknown) => {
    assert.ok(e instanceof KeyFileError, String(e));
    assert.equal(exitCodeOf(e), 78);
    assert.match(e.message, new RegExp(`^Cannot load private key file "${path}": `));
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("loadFileKey() refuses encrypted, unsupported and malformed keys naming the file and type", async () => {
  await using dir = await tempDir();
  const d = dir.path;
  const pki = await TestPki.create(d);
  const device = await pki.device("dev", "dev", { kind: "rsa2048" });
  const k = device.keyPath!;
  await run("openssl", [
    "pkey",
    "-in",
    k,
    "-aes256",
    "-passout",
    "pass:pw",
    "-out",
    `${d}/enc.pem`,
  ]);
  await expectFileError(
    `${d}/enc.pem`,
    /encrypted PKCS#8 key \(ENCRYPTED PRIVATE KEY\).*openssl pkey/,
  );
  await run("openssl", [
    "rsa",
    "-in",
    k,
    "-traditional",
    "-aes256",
    "-passout",
    "pass:pw",
    "-out",
    `${d}/legacy.pem`,
  ]);
  await expectFileError(
    `${d}/legacy.pem`,
    /encrypted "RSA PRIVATE KEY" \(Proc-Type: 4,ENCRYPTED\)/,
  );
  await run("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:secp256k1",
    "-out",
    `${d}/k1.pem`,
  ]);
  await expectFileError(`${d}/k1.pem`, /unsupported key type EC secp256k1; supported are P-256/);
  await run("openssl", [
    "ecparam",
    "-name",
    "secp256k1",
    "-genkey",
    "-noout",
    "-out",
    `${d}/k1sec1.pem`,
  ]);
  await expectFileError(`${d}/k1sec1.pem`, /unsupported key type EC secp256k1/);
  await run("openssl", ["genpkey", "-algorithm", "ed448", "-out", `${d}/ed448.pem`]);
  await expectFileError(`${d}/ed448.pem`, /unsupported key type Ed448/);
  await run("openssl", [
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:1024",
    "-out",
    `${d}/small.pem`,
  ]);
  await expectFileError(`${d}/small.pem`, /RSA key of 1024 bits is too small; use at least 2048/);
  await expectFileError(device.certPath, /no private key in it \(found only "CERTIFICATE"\)/);
  await Deno.writeTextFile(
    `${d}/dsa.pem`,
    "-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n",
  );
  await expectFileError(`${d}/dsa.pem`, /unsupported key type "DSA PRIVATE KEY"/);
  await Deno.writeTextFile(
    `${d}/bad.pem`,
    "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
  );
  await expectFileError(`${d}/bad.pem`, /malformed "PRIVATE KEY": expected 3 elements, found 1$/);
  await Deno.writeTextFile(`${d}/empty.pem`, "");
  await expectFileError(`${d}/empty.pem`, /no PEM block found/);
  await expectFileError(`${d}/missing.pem`, /file not found$/);
  await expectFileError(d, /is a directory|Is a directory/i);
});
