/** `hsm-bridge cert create-csr`, run as a separate process; openssl checks every request. */
import assert from "node:assert/strict";
import { run } from "./helpers/process.ts";
import { Device } from "./keys_cli_fixture.ts";

async function opensslVerify(path: string): Promise<string> {
  const r = await run("openssl", ["req", "-verify", "-noout", "-subject", "-in", path]);
  assert.match(r.stderr + r.stdout, /verify OK/);
  return r.stdout.trim();
}

Deno.test("cert create-csr makes a request signed by the token key that openssl req -verify accepts", async () => {
  await using dev = await Device.create();
  const token = await dev.hsm.initToken("edge");
  for (const kind of ["p256", "rsa2048", "ed25519"] as const) {
    const key = await dev.hsm.importNewKey(token, kind, { label: kind });
    await dev.writeConfig(
      dev.moduleConfig({ "device.key_uri": `pkcs11:token=edge;object=${kind}` }),
    );
    const out = `${dev.dir}/${kind}.csr`;
    const r = await dev.cli(["cert", "create-csr", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `Wrote a certificate request for "CN=edge-0001" signed by PKCS#11 key "pkcs11:token=edge;.*object=${kind};`,
      ),
    );
    assert.equal(await opensslVerify(out), "subject=CN = edge-0001");
    // The request carries the token key's public key.
    const pub = await run("openssl", ["req", "-in", out, "-noout", "-pubkey"]);
    const der = Uint8Array.from(
      atob(pub.stdout.replace(/-----[^-]+-----|\s/g, "")),
      (c) => c.charCodeAt(0),
    );
    assert.deepEqual(der, key.spki, kind);
    assert.equal((await Deno.stat(out)).mode! & 0o777, 0o644);
  }
});

Deno.test("cert create-csr takes --subject, prints to stdout without --out, and signs with a file key", async () => {
  await using dev = await Device.create();
  const device = await dev.pki.device("file", "ignored", { kind: "p384" });
  await dev.writeConfig({ "device.id": "edge-0001", "device.key_path": device.keyPath! });
  const r = await dev.cli(["cert", "create-csr", "--subject", "CN=edge-0002,O=ACME\\, Inc.,C=DE"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/,
  );
  await Deno.writeTextFile(`${dev.dir}/stdout.csr`, r.stdout);
  assert.equal(
    await opensslVerify(`${dev.dir}/stdout.csr`),
    'subject=CN = edge-0002, O = "ACME, Inc.", C = DE',
  );
  const bad = await dev.cli(["cert", "create-csr", "--subject", "edge-0002"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid subject "edge-0002": "edge-0002" is not NAME=value/);
});

Deno.test("cert create-csr without a device id or key says what to configure", async () => {
  await using dev = await Device.create();
  await dev.hsm.initToken("edge");
  const { "device.id": _, ...withoutId } = dev.moduleConfig();
  await dev.writeConfig(withoutId);
  const noId = await dev.cli(["cert", "create-csr"]);
  assert.equal(noId.code, 78);
  assert.match(
    noId.stderr,
    /No device id for the request's CN: pass --subject CN=NAME or set device.id/,
  );
  const noKey = await dev.cli(["cert", "create-csr", "--subject", "CN=x"]);
  assert.equal(noKey.code, 78);
  assert.match(noKey.stderr, /No private key found on token "edge".*hsm-bridge hsm create-key/);
});
