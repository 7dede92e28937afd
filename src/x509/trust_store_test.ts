import assert from "node:assert/strict";
import { exitCodeOf } from "../errors.ts";
import { CertificateFileError, encodePem, TrustStore, verifyServerChain } from "./mod.ts";
import { issue, simpleChain } from "./_test_pki.ts";

const pem = (der: Uint8Array) => encodePem("CERTIFICATE", der);

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "x509-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.chmod(`${dir}`, 0o755).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("TrustStore.load() reads a directory recursively, following symlinks, skipping junk", async () => {
  const { root, int, server } = await simpleChain();
  const a = await issue({ subject: "CN=Root A", slot: 20 });
  const b = await issue({ subject: "CN=Root B", slot: 21 });
  await withTempDir(async (dir) => {
    const shared = `${dir}/share/ca-certificates/nested/deeper`;
    await Deno.mkdir(shared, { recursive: true });
    await Deno.mkdir(`${dir}/certs/empty`, { recursive: true });
    await Deno.writeTextFile(`${shared}/test-root.crt`, pem(root.der));
    await Deno.writeTextFile(`${dir}/share/ca-certificates/a.pem`, `Bag Attributes\n${pem(a.der)}`);
    // /etc/ssl/certs style: a readable name and a hash name, both symlinks to the same file.
    await Deno.symlink(`${shared}/test-root.crt`, `${dir}/certs/Test_Root.pem`);
    await Deno.symlink("Test_Root.pem", `${dir}/certs/0a1b2c3d.0`);
    // A bundle that repeats one root and adds another.
    await Deno.writeTextFile(`${dir}/certs/bundle.crt`, pem(a.der) + pem(b.der));
    // A directory symlink (and a loop back to the top).
    await Deno.symlink(`${dir}/share`, `${dir}/certs/share-link`);
    await Deno.symlink(dir, `${dir}/certs/share/loop`).catch(() => {});
    await Deno.symlink(dir, `${dir}/certs/loop`);
    // Junk: binary, text, a dangling link, a key, a broken PEM, an unreadable file.
    await Deno.writeFile(
      `${dir}/certs/cacerts.jks`,
      new Uint8Array([0xfe, 0xed, 0xfe, 0xed, 0, 1]),
    );
    await Deno.writeTextFile(`${dir}/certs/README`, "nothing to see\n");
    await Deno.symlink(`${dir}/nowhere.pem`, `${dir}/certs/dangling.pem`);
    await Deno.writeTextFile(`${dir}/certs/key.pem`, encodePem("PRIVATE KEY", new Uint8Array(8)));
    await Deno.writeTextFile(
      `${dir}/certs/broken.pem`,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    await Deno.writeTextFile(`${dir}/certs/secret.pem`, pem(b.der));
    await Deno.chmod(`${dir}/certs/secret.pem`, 0o000);
    const store = await TrustStore.load(`${dir}/certs`);
    assert.equal(store.size, 3); // test root, A, B: each once
    assert.equal(store.source, `${dir}/certs`);
    const skipped = store.skipped.join("\n");
    assert.match(skipped, /cacerts\.jks: no PEM certificate/);
    assert.match(skipped, /README: no PEM certificate/);
    assert.match(skipped, /dangling\.pem: file not found/);
    assert.match(skipped, /broken\.pem: cannot decode certificate 1: trailing bytes after element/);
    if (Deno.uid() !== 0) assert.match(skipped, /secret\.pem: permission denied/);
    const result = await verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: store,
    });
    assert.equal(result.path[2].subject, "CN=Test Root");
  });
});

Deno.test("TrustStore.load() reads a single PEM bundle file", async () => {
  const a = await issue({ subject: "CN=Root A", slot: 20 });
  const b = await issue({ subject: "CN=Root B", slot: 21 });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.pem`, pem(a.der) + "\n" + pem(b.der) + pem(a.der));
    const store = await TrustStore.load(`${dir}/ca.pem`);
    assert.equal(store.size, 2);
    assert.equal(store.describe(), `"${dir}/ca.pem" (2 certificates)`);
  });
});

Deno.test("TrustStore.load() names the path when nothing usable is there", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(TrustStore.load(`${dir}/missing`), {
      name: "CertificateFileError",
      message: `Cannot read trust store "${dir}/missing": file not found`,
    });
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    await assert.rejects(TrustStore.load(`${dir}/fifo`), {
      message: `Cannot read trust store "${dir}/fifo": not a regular file or directory`,
    });
    await Deno.mkdir(`${dir}/empty/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/empty/sub/notes.txt`, "hello\n");
    const err = await TrustStore.load(`${dir}/empty`).catch((e) => e);
    assert.ok(err instanceof CertificateFileError);
    assert.equal(exitCodeOf(err), 78);
    assert.equal(err.path, `${dir}/empty`);
    assert.equal(
      err.message,
      `Cannot use trust store "${dir}/empty": no PEM certificate found in 1 files`,
    );
    await Deno.writeTextFile(`${dir}/empty.pem`, "");
    await assert.rejects(TrustStore.load(`${dir}/empty.pem`), {
      message: `Cannot use trust store "${dir}/empty.pem": no PEM certificate in it`,
    });
    await Deno.writeTextFile(
      `${dir}/bad.pem`,
      "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    );
    await assert.rejects(TrustStore.load(`${dir}/bad.pem`), {
      message: `Cannot use trust store "${dir}/bad.pem": cannot decode certificate 1 of 1: ` +
        "Certificate is not a SEQUENCE of 3 elements",
    });
  });
});

Deno.test("TrustStore.fromPem() and fromCertificates() deduplicate and describe themselves", async () => {
  const a = await issue({ subject: "CN=Root A", slot: 20 });
  const store = TrustStore.fromPem(pem(a.der) + pem(a.der));
  assert.equal(store.size, 1);
  assert.equal(store.describe(), '"PEM text" (1 certificate)');
  assert.ok(store.contains(a.cert));
  assert.equal(
    TrustStore.fromCertificates([a.cert, a.cert], "mine").describe(),
    '"mine" (1 certificate)',
  );
  assert.throws(() => TrustStore.fromPem("no pem here"), {
    name: "SyntaxError",
    message: "No PEM certificate found",
  });
});

Deno.test({
  name: "TrustStore.load() reads the system store /etc/ssl/certs",
  ignore: !(await Deno.stat("/etc/ssl/certs").then((s) => s.isDirectory, () => false)),
  fn: async () => {
    const store = await TrustStore.load("/etc/ssl/certs");
    assert.ok(store.size > 50, `only ${store.size} certificates`);
    const undecodable = store.skipped.filter((s) => /cannot be decoded/.test(s));
    assert.deepEqual(undecodable, []);
  },
});
