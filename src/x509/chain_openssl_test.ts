/**
 * Certificates made by the openssl CLI (what a user's own CA tooling produces), checked by
 * `openssl verify` first so that each fixture is known good or known bad independently of us.
 */
import assert from "node:assert/strict";
import {
  CertificateError,
  derOf,
  parseCertificateChainPem,
  publicKeyInfo,
  spkiOf,
  TrustStore,
  verifyServerChain,
  type X509Certificate,
} from "./mod.ts";

async function openssl(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`openssl ${args.join(" ")} failed: ${text}`);
  return text;
}

const CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" +
  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
/** For a leaf under a version 1 CA, which has no key identifier to point at. */
const V1_LEAF_EXT = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
  "extendedKeyUsage=serverAuth\n";
const LEAF_EXT = V1_LEAF_EXT + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

/** Makes `<name>.pem` for `subject` with a new key of `keyArgs`, signed by `ca` (or itself). */
async function make(
  dir: string,
  name: string,
  subject: string,
  keyArgs: string[],
  ca: string | null,
  ext: string | null,
  signArgs: string[] = ["-sha256"],
) {
  await openssl(
    dir,
    "req",
    "-new",
    ...keyArgs,
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-subj",
    subject,
    "-out",
    `${name}.csr`,
  );
  const args = [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-days",
    "30",
    ...signArgs,
    "-out",
    `${name}.pem`,
  ];
  args.push(
    ...(ca
      ? ["-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-set_serial", String(Date.now())]
      : ["-signkey", `${name}.key`]),
  );
  if (ext !== null) {
    await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
    args.push("-extfile", `${name}.ext`);
  }
  await openssl(dir, ...args);
}

const read = async (dir: string, ...names: string[]) => {
  const texts = await Promise.all(names.map((n) => Deno.readTextFile(`${dir}/${n}.pem`)));
  return texts.map((t) => parseCertificateChainPem(t)[0]);
};
const der = (c: X509Certificate) => derOf(c);

Deno.test("verifyServerChain() accepts and refuses certificates made by openssl", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "x509-openssl-" });
  try {
    const rsa = ["-newkey", "rsa:2048"];
    await make(dir, "root", "/CN=OpenSSL Root/O=Test", rsa, null, CA_EXT);
    await make(
      dir,
      "pss",
      "/CN=PSS Intermediate",
      ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"],
      "root",
      CA_EXT,
      [
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
      ],
    );
    await make(
      dir,
      "p384",
      "/CN=P-384 Intermediate",
      ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
      "pss",
      CA_EXT,
      [
        "-sha384",
      ],
    );
    const san = "subjectAltName=DNS:broker.example,DNS:*.broker.example,IP:127.0.0.1,IP:::1\n";
    await make(
      dir,
      "leaf",
      "/CN=broker.example",
      ["-newkey", "ed25519"],
      "p384",
      LEAF_EXT + san,
      [],
    );
    await make(
      dir,
      "cn",
      "/O=Test/CN=cn-only.example",
      ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
      "p384",
      LEAF_EXT,
      [
        "-sha512",
      ],
    );
    await make(dir, "v1root", "/CN=V1 Root", rsa, null, null);
    // `openssl x509 -req` without -extfile: a version 1 server certificate, so no SAN.
    await make(dir, "v1noext", "/CN=v1-noext.example", ["-newkey", "ed25519"], "root", null, []);
    await make(dir, "v1int", "/CN=V1 Intermediate", rsa, "v1root", null);
    await make(
      dir,
      "v1leaf",
      "/CN=v1.example",
      ["-newkey", "ed25519"],
      "v1int",
      V1_LEAF_EXT + "subjectAltName=DNS:v1.example\n",
      [],
    );
    await make(
      dir,
      "v1direct",
      "/CN=direct.example",
      ["-newkey", "ed25519"],
      "v1root",
      V1_LEAF_EXT + "subjectAltName=DNS:direct.example\n",
      [],
    );
    // openssl's own verdicts on the fixtures.
    await openssl(
      dir,
      "verify",
      "-CAfile",
      "root.pem",
      "-untrusted",
      "pss.pem",
      "-untrusted",
      "p384.pem",
      "leaf.pem",
    );
    await openssl(dir, "verify", "-CAfile", "v1root.pem", "v1direct.pem");
    await assert.rejects(
      openssl(dir, "verify", "-CAfile", "v1root.pem", "-untrusted", "v1int.pem", "v1leaf.pem"),
    );

    const [root, pss, p384, leaf, cn, v1root, v1int, v1leaf, v1direct, v1noext] = await read(
      dir,
      "root",
      "pss",
      "p384",
      "leaf",
      "cn",
      "v1root",
      "v1int",
      "v1leaf",
      "v1direct",
      "v1noext",
    );
    const store = TrustStore.fromCertificates([root]);

    await t.step(
      "RSA root -> RSA-PSS-only intermediate -> P-384 intermediate -> Ed25519 leaf",
      async () => {
        assert.deepEqual(publicKeyInfo(spkiOf(pss)), { kind: "rsa", bits: 2048, pssOnly: true });
        for (const serverName of ["broker.example", "a.broker.example", "127.0.0.1", "::1"]) {
          const result = await verifyServerChain({
            chain: [der(leaf), der(p384), der(pss)],
            serverName,
            trustStore: store,
          });
          assert.equal(result.path.length, 4);
        }
      },
    );

    await t.step(
      "a P-521 leaf without SAN is valid for no name, its common name included",
      async () => {
        // openssl verify -verify_hostname would still take the CN; RFC 9525, Go and rustls do not.
        const err = await verifyServerChain({
          chain: [der(cn), der(pss), der(p384)],
          serverName: "cn-only.example",
          trustStore: store,
        }).catch((e) => e);
        assert.ok(err instanceof CertificateError);
        assert.equal(err.alert, "bad_certificate");
        assert.equal(
          err.message,
          'Certificate "O=Test, CN=cn-only.example" is not valid for any server name: it has no ' +
            "subjectAltName extension, and the subject common name is not used for names " +
            "(RFC 9525); reissue it with the host name in subjectAltName, e.g. openssl's -addext " +
            '"subjectAltName=DNS:cn-only.example"',
        );
        const v1 = await verifyServerChain({
          chain: [der(v1noext)],
          serverName: "v1-noext.example",
          trustStore: store,
        }).catch((e) => e);
        assert.ok(v1 instanceof CertificateError);
        assert.match(
          v1.message,
          /^Certificate "CN=v1-noext\.example" is not valid for any server name: it has no subjectAltName/,
        );
      },
    );

    await t.step("a version 1 root is an anchor, a version 1 intermediate is refused", async () => {
      const v1store = TrustStore.fromCertificates([v1root]);
      await verifyServerChain({
        chain: [der(v1direct)],
        serverName: "direct.example",
        trustStore: v1store,
      });
      const err = await verifyServerChain({
        chain: [der(v1leaf), der(v1int)],
        serverName: "v1.example",
        trustStore: v1store,
      })
        .catch((e) => e);
      assert.ok(err instanceof CertificateError);
      assert.equal(err.alert, "bad_certificate");
      assert.equal(
        err.message,
        'Certificate "CN=V1 Intermediate" is not a CA (no basicConstraints) but issued "CN=v1.example"',
      );
    });

    await t.step("the whole chain expires with its certificates", async () => {
      const err = await verifyServerChain({
        chain: [der(leaf), der(p384), der(pss)],
        serverName: "broker.example",
        trustStore: store,
        now: new Date(Date.now() + 60 * 86_400_000),
      }).catch((e) => e);
      assert.ok(err instanceof CertificateError);
      assert.equal(err.alert, "certificate_expired");
      assert.match(err.message, /^Certificate "CN=broker\.example" expired on \d{4}-/);
    });

    await t.step("a directory prepared by `openssl rehash` loads each root once", async () => {
      await Deno.mkdir(`${dir}/store`);
      await Deno.copyFile(`${dir}/root.pem`, `${dir}/store/root.pem`);
      await Deno.copyFile(`${dir}/v1root.pem`, `${dir}/store/v1root.pem`);
      await openssl(dir, "rehash", "store");
      const names = [];
      for await (const e of Deno.readDir(`${dir}/store`)) names.push(e.name);
      assert.equal(names.filter((n) => /^[0-9a-f]{8}\.0$/.test(n)).length, 2);
      const loaded = await TrustStore.load(`${dir}/store`);
      assert.equal(loaded.size, 2);
      await verifyServerChain({
        chain: [der(leaf), der(p384), der(pss)],
        serverName: "broker.example",
        trustStore: loaded,
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
