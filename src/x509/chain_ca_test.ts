import assert from "node:assert/strict";
import { CertificateError, TrustStore, verifyServerChain } from "./mod.ts";
import { x509 } from "./testing.ts";
import { CLIENT_AUTH, issue, type Issued, SERVER_AUTH, subtree } from "./_test_pki.ts";

const store = (...c: Issued[]) => TrustStore.fromCertificates(c.map((i) => i.cert), "test store");

async function rejects(p: Promise<unknown>, alert: string, message: string | RegExp) {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof CertificateError, `expected a CertificateError, got ${err}`);
  assert.equal(err.alert, alert, err.message);
  if (typeof message === "string") assert.equal(err.message, message);
  else assert.match(err.message, message);
}

const root = () => issue({ subject: "CN=Test Root", slot: 1 });
const leafOf = (issuer: Issued, o: Partial<Parameters<typeof issue>[0]> = {}) =>
  issue({ subject: "CN=broker.example", issuer, slot: 3, dns: ["broker.example"], ...o });
const verify = (chain: Issued[], anchors: Issued[], serverName = "broker.example") =>
  verifyServerChain({ chain: chain.map((c) => c.der), serverName, trustStore: store(...anchors) });

Deno.test("verifyServerChain() refuses an intermediate without cA or without basicConstraints", async () => {
  const r = await root();
  const notCa = await issue({
    subject: "CN=Not A CA",
    issuer: r,
    slot: 2,
    basic: { ca: false },
    keyUsage: null,
    eku: null,
  });
  await rejects(
    verify([await leafOf(notCa), notCa], [r]),
    "bad_certificate",
    'Certificate "CN=Not A CA" is not a CA (basicConstraints cA is false) but issued "CN=broker.example"',
  );
  const noBc = await issue({
    subject: "CN=No BC",
    issuer: r,
    slot: 2,
    basic: null,
    keyUsage: null,
  });
  await rejects(
    verify([await leafOf(noBc), noBc], [r]),
    "bad_certificate",
    'Certificate "CN=No BC" is not a CA (no basicConstraints) but issued "CN=broker.example"',
  );
});

Deno.test("verifyServerChain() refuses a CA whose keyUsage lacks keyCertSign", async () => {
  const r = await root();
  const int = await issue({
    subject: "CN=CRL Signer",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    keyUsage: x509.KeyUsageFlags.cRLSign,
  });
  await rejects(
    verify([await leafOf(int), int], [r]),
    "bad_certificate",
    'Certificate "CN=CRL Signer" has a keyUsage extension without keyCertSign but issued "CN=broker.example"',
  );
});

Deno.test("verifyServerChain() honours pathLenConstraint on intermediates and roots", async () => {
  const r = await issue({ subject: "CN=Test Root", slot: 1, basic: { ca: true, pathLen: 1 } });
  const upper = await issue({
    subject: "CN=Upper",
    issuer: r,
    slot: 2,
    basic: { ca: true, pathLen: 0 },
  });
  const lower = await issue({ subject: "CN=Lower", issuer: upper, slot: 4, basic: { ca: true } });
  await rejects(
    verify([await leafOf(lower), lower, upper], [r]),
    "bad_certificate",
    'Certificate "CN=Upper" allows 0 intermediate CAs below it (pathLenConstraint) but the path has 1',
  );
  const upper2 = await issue({ subject: "CN=Upper", issuer: r, slot: 2, basic: { ca: true } });
  const lower2 = await issue({ subject: "CN=Lower", issuer: upper2, slot: 4, basic: { ca: true } });
  const lowest = await issue({
    subject: "CN=Lowest",
    issuer: lower2,
    slot: 5,
    basic: { ca: true },
  });
  await rejects(
    verify([await leafOf(lowest), lowest, lower2, upper2], [r]),
    "bad_certificate",
    'Certificate "CN=Test Root" allows 1 intermediate CA below it (pathLenConstraint) but the path has 3',
  );
  // Within the limits: one intermediate under the root.
  const r1 = await issue({ subject: "CN=Test Root", slot: 1, basic: { ca: true, pathLen: 1 } });
  const only = await issue({ subject: "CN=Upper", issuer: r1, slot: 2, basic: { ca: true } });
  await verify([await leafOf(only), only], [r1]);
});

Deno.test("verifyServerChain() refuses a CA restricted to clientAuth by extendedKeyUsage", async () => {
  const r = await root();
  const int = await issue({
    subject: "CN=Client CA",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    eku: [CLIENT_AUTH],
  });
  await rejects(
    verify([await leafOf(int), int], [r]),
    "unsupported_certificate",
    'Certificate "CN=Client CA" cannot issue TLS server certificates: its extendedKeyUsage is clientAuth',
  );
  const ok = await issue({
    subject: "CN=Server CA",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    eku: [SERVER_AUTH],
  });
  await verify([await leafOf(ok), ok], [r]);
});

Deno.test("verifyServerChain() refuses unknown critical extensions and accepts unknown non-critical ones", async () => {
  const r = await root();
  const odd = new x509.Extension("1.2.3.4.5", true, new Uint8Array([5, 0]));
  await rejects(
    verify([await leafOf(r, { extensions: [odd] })], [r]),
    "unsupported_certificate",
    'Certificate "CN=broker.example" has an unsupported critical extension: 1.2.3.4.5',
  );
  const int = await issue({
    subject: "CN=Odd CA",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    extensions: [odd],
  });
  await rejects(
    verify([await leafOf(int), int], [r]),
    "unsupported_certificate",
    'Certificate "CN=Odd CA" has an unsupported critical extension: 1.2.3.4.5',
  );
  const mild = new x509.Extension("1.2.3.4.5", false, new Uint8Array([5, 0]));
  await verify([await leafOf(r, { extensions: [mild] })], [r]);
});

Deno.test("verifyServerChain() refuses SHA-1 signatures and RSA keys under 2048 bits", async () => {
  const r = await root();
  await rejects(
    verify([await leafOf(r, { hash: "SHA-1" })], [r]),
    "unsupported_certificate",
    'Certificate "CN=broker.example" has an unusable signature algorithm: ECDSA with SHA-1 signatures are not accepted',
  );
  await rejects(
    verify([await leafOf(r, { kind: "rsa1024" })], [r]),
    "unsupported_certificate",
    'Certificate "CN=broker.example" has an unsupported public key: RSA key of 1024 bits is too weak ' +
      "(at least 2048 needed)",
  );
});

Deno.test("verifyServerChain() finds the valid path among same-named intermediates", async () => {
  const r = await root();
  const otherRoot = await issue({ subject: "CN=Other Root", slot: 8 });
  // The same intermediate key, certified by an unknown root and by the trusted one.
  const crossed = await issue({
    subject: "CN=Int",
    issuer: otherRoot,
    slot: 2,
    basic: { ca: true },
  });
  const good = await issue({ subject: "CN=Int", issuer: r, slot: 2, basic: { ca: true } });
  // Same name, different key, no key identifiers: only the signature tells them apart.
  const decoy = await issue({
    subject: "CN=Int",
    issuer: r,
    slot: 6,
    basic: { ca: true },
    noKeyIds: true,
  });
  const leaf = await leafOf(good, { noKeyIds: true });
  const result = await verify([leaf, decoy, crossed, otherRoot, good], [r]);
  assert.deepEqual(
    result.path.map((c) => c.serialNumber),
    [leaf, good, r].map((c) => c.cert.serialNumber),
  );
});

Deno.test("verifyServerChain() stops at an intermediate that is itself in the trust store", async () => {
  const r = await root();
  const int = await issue({ subject: "CN=Int", issuer: r, slot: 2, basic: { ca: true } });
  const result = await verify([await leafOf(int), int], [int]);
  assert.equal(result.path.length, 2);
});

Deno.test("verifyServerChain() ends in an error, not a hang, on issuer loops and long chains", async () => {
  // A and B certify each other (same keys, crossing names): no anchor above either.
  const a = await issue({
    subject: "CN=A",
    issuer: await issue({ subject: "CN=B", slot: 5 }),
    slot: 4,
    basic: { ca: true },
  });
  const b = await issue({ subject: "CN=B", issuer: a, slot: 5, basic: { ca: true } });
  const r = await root();
  await rejects(verify([await leafOf(a), a, b], [r]), "unknown_ca", /is not trusted/);
  // 9 CAs under the root: longer than MAX_PATH_LENGTH (8).
  let ca: Issued = r;
  const chain: Issued[] = [];
  for (let i = 0; i < 9; i++) {
    ca = await issue({ subject: `CN=Level ${i}`, issuer: ca, slot: 10 + i, basic: { ca: true } });
    chain.unshift(ca);
  }
  await rejects(
    verify([await leafOf(ca), ...chain], [r]),
    "certificate_unknown",
    'Certificate "CN=broker.example" has no path to a trust anchor within 8 certificates',
  );
});

Deno.test("verifyServerChain() bounds the work a chain of look-alike CAs can cause", async () => {
  // 15 distinct self-issued CAs sharing one name and key: each verifies as the issuer of every
  // other, so the candidate paths multiply; none reaches an anchor.
  const twins: Issued[] = [];
  for (let i = 0; i < 15; i++) twins.push(await issue({ subject: "CN=Twin CA", slot: 30 }));
  await rejects(
    verify([await leafOf(twins[0]), ...twins], [await root()]),
    "certificate_unknown",
    'Certificate "CN=broker.example" has too many candidate issuers (over 64 signatures checked)',
  );
});

Deno.test("verifyServerChain() applies DNS and IP name constraints of a CA", async () => {
  const r = await root();
  const int = await issue({
    subject: "CN=Constrained",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    nameConstraints: {
      permitted: [subtree("example"), subtree("10.0.0.0/8"), subtree("fd00::/8")],
      excluded: [subtree("secret.example")],
    },
  });
  await verify([await leafOf(int, { ips: ["10.1.2.3", "fd00::1"] }), int], [r]);
  await rejects(
    verify([await leafOf(int, { dns: ["broker.example", "evil.test"] }), int], [r]),
    "bad_certificate",
    'Certificate "CN=Constrained" has nameConstraints that refuse "CN=broker.example": the name ' +
      "evil.test is outside its permitted DNS subtrees",
  );
  await rejects(
    verify([await leafOf(int, { dns: ["a.secret.example"] }), int], [r], "a.secret.example"),
    "bad_certificate",
    /the name a\.secret\.example is in its excluded DNS subtree secret\.example/,
  );
  // *.example could stand for secret.example itself.
  await rejects(
    verify([await leafOf(int, { dns: ["*.example"] }), int], [r], "a.example"),
    "bad_certificate",
    /the name \*\.example is in its excluded DNS subtree secret\.example/,
  );
  await rejects(
    verify([await leafOf(int, { ips: ["192.168.1.1"] }), int], [r]),
    "bad_certificate",
    /an IP address is outside its permitted IP ranges/,
  );
  // Without a SAN, the common name the host check falls back to is constrained too.
  await rejects(
    verify([await leafOf(int, { dns: [], subject: "CN=evil.test" }), int], [r], "evil.test"),
    "bad_certificate",
    /the name evil\.test is outside its permitted DNS subtrees/,
  );
});

Deno.test("verifyServerChain() refuses name constraints on forms it does not check", async () => {
  const r = await root();
  const int = await issue({
    subject: "CN=Dir Constrained",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    nameConstraints: { permitted: [subtree("dirname:O=Acme")] },
  });
  await rejects(
    verify([await leafOf(int), int], [r]),
    "unsupported_certificate",
    'Certificate "CN=Dir Constrained" has nameConstraints on directoryName names, which are ' +
      "not supported",
  );
});
