/**
 * The certificate profile (_profile.ts, _name_constraints.ts, hostname.ts): what the strictest
 * validators (rustls-webpki, Go crypto/x509, RFC 5280 and the CA/Browser Forum profile) refuse
 * is refused with a one-line reason naming the certificate, and each choice made where the
 * profiles differ is pinned down here.
 */
import assert from "node:assert/strict";
import { CertificateError, TrustStore, verifyServerChain } from "./mod.ts";
import { x509 } from "./testing.ts";
import { encodeTlv, TAG } from "./der.ts";
import { type CertOptions, issue, type Issued, resign, subtree } from "./_test_pki.ts";
import { NAME_COMPARISON_BUDGET } from "./_name_constraints.ts";

const KU = x509.KeyUsageFlags;
const store = (...c: Issued[]) => TrustStore.fromCertificates(c.map((i) => i.cert), "test store");
const root = (o: Partial<CertOptions> = {}) => issue({ subject: "CN=Test Root", slot: 1, ...o });
const leafOf = (issuer: Issued, o: Partial<CertOptions> = {}) =>
  issue({ subject: "CN=broker.example", issuer, slot: 3, dns: ["broker.example"], ...o });
const verify = (chain: Issued[], anchors: Issued[], serverName = "broker.example") =>
  verifyServerChain({ chain: chain.map((c) => c.der), serverName, trustStore: store(...anchors) });

async function rejects(p: Promise<unknown>, alert: string, message: string | RegExp) {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof CertificateError, `expected a CertificateError, got ${err}`);
  assert.equal(err.alert, alert, err.message);
  assert.equal(err.message.split("\n").length, 1, "one line");
  if (typeof message === "string") assert.equal(err.message, message);
  else assert.match(err.message, message);
}

/** A raw extension (for forms and criticality @peculiar/x509 will not write). */
const rawExtension = (oid: string, critical: boolean, value: Uint8Array<ArrayBuffer>) =>
  new x509.Extension(oid, critical, value);
const keyId = (...bytes: number[]) => encodeTlv(0x80, new Uint8Array(bytes));

Deno.test("verifyServerChain() refuses a CA certificate presented as the server's certificate", async () => {
  const r = await root();
  for (const keyUsage of [KU.keyCertSign | KU.digitalSignature, KU.digitalSignature, null]) {
    const caLeaf = await leafOf(r, { basic: { ca: true }, keyUsage, eku: null });
    await rejects(
      verify([caLeaf], [r]),
      "bad_certificate",
      'Certificate "CN=broker.example" is a CA certificate (basicConstraints cA is true), not a ' +
        "server certificate: a server must present an end-entity certificate",
    );
  }
  // A self-signed cA certificate pinned in the trust store (what `openssl req -x509` makes) is
  // what the user chose to trust.
  const pinned = await issue({
    subject: "CN=broker.example",
    dns: ["broker.example"],
    slot: 3,
    keyUsage: null,
  });
  assert.equal((await verify([pinned], [pinned])).path.length, 1);
});

Deno.test("verifyServerChain() refuses a server certificate whose keyUsage asserts keyCertSign", async () => {
  const r = await root();
  for (const basic of [{ ca: false }, null]) {
    const leaf = await leafOf(r, { basic, keyUsage: KU.digitalSignature | KU.keyCertSign });
    await rejects(
      verify([leaf], [r]),
      "bad_certificate",
      'Certificate "CN=broker.example" is a server certificate whose keyUsage allows ' +
        "keyCertSign, which only a CA certificate may assert (RFC 5280 4.2.1.9)",
    );
  }
});

Deno.test("verifyServerChain() refuses a server certificate carrying nameConstraints", async () => {
  const r = await root();
  const nc = encodeTlv(TAG.SEQUENCE, encodeTlv(0xa0, subtree("broker.example")));
  for (const critical of [true, false]) {
    const leaf = await leafOf(r, { extensions: [rawExtension("2.5.29.30", critical, nc)] });
    await rejects(
      verify([leaf], [r]),
      "bad_certificate",
      'Certificate "CN=broker.example" is a server certificate with a nameConstraints ' +
        "extension, which only a CA certificate may carry (RFC 5280 4.2.1.10)",
    );
  }
});

Deno.test("verifyServerChain() refuses an issuing CA with an empty subject", async () => {
  const emptyRoot = await issue({ subject: "", slot: 1 });
  const leaf = await leafOf(emptyRoot);
  const serial = emptyRoot.cert.serialNumber;
  await rejects(
    verify([leaf], [emptyRoot]),
    "bad_certificate",
    `Certificate "(empty subject, serial ${serial})" is a CA with an empty subject name, which ` +
      'RFC 5280 4.1.2.6 forbids, but issued "CN=broker.example"',
  );
  const r = await root();
  const emptyInt = await issue({ subject: "", issuer: r, slot: 2, basic: { ca: true } });
  await rejects(
    verify([await leafOf(emptyInt), emptyInt], [r]),
    "bad_certificate",
    /^Certificate "\(empty subject, serial [0-9a-f]+\)" is a CA with an empty subject name/,
  );
});

Deno.test("verifyServerChain() takes no name from the common name and says how to reissue", async () => {
  const r = await root();
  const noSan = await leafOf(r, { dns: [] });
  await rejects(
    verify([noSan], [r]),
    "bad_certificate",
    'Certificate "CN=broker.example" is not valid for any server name: it has no ' +
      "subjectAltName extension, and the subject common name is not used for names (RFC 9525); " +
      "reissue it with the host name in subjectAltName, e.g. openssl's -addext " +
      '"subjectAltName=DNS:broker.example"',
  );
  await rejects(
    verify([await leafOf(r, { dns: [], subject: "CN=10.0.0.1" })], [r], "10.0.0.1"),
    "bad_certificate",
    /e\.g\. openssl's -addext "subjectAltName=IP:10\.0\.0\.1"$/,
  );
  // A SAN with other names: the CN is not one of them, whatever it says.
  await rejects(
    verify(
      [await leafOf(r, { subject: "CN=cn.example", dns: ["san.example"] })],
      [r],
      "cn.example",
    ),
    "bad_certificate",
    'Certificate "CN=cn.example" is not valid for "cn.example": names in the certificate: ' +
      "san.example",
  );
});

Deno.test("verifyServerChain() refuses malformed DNS names in subjectAltName", async () => {
  const r = await root();
  const cases: [string, string][] = [
    [".broker.example", "it starts with a period"],
    ["broker.example.", "it ends with a period"],
    ["broker..example", "it has an empty label"],
    [`${"a".repeat(64)}.example`, "it has a label of 64 characters, more than 63"],
    ["f*.example.com", "it has a wildcard that is not the whole left-most label"],
    ["a.*.example.com", "it has a wildcard that is not the whole left-most label"],
    ["*", "it is a wildcard for no domain"],
    ["-broker.example", /^its label "-broker" has characters other than/],
    ["broker example", /^its label "broker example" has characters other than/],
  ].map(([n, w]) => [n as string, typeof w === "string" ? w : (w as RegExp).source]);
  for (const [name, why] of cases) {
    // The malformed name invalidates the certificate even for the good name beside it.
    const leaf = await leafOf(r, { dns: ["broker.example", name] });
    await rejects(
      verify([leaf], [r]),
      "bad_certificate",
      new RegExp(
        `^Certificate "CN=broker\\.example" has a malformed DNS name "${
          name.replace(/[.*]/g, "\\$&")
        }" in its subjectAltName: ${why.startsWith("^") ? why.slice(1) : escape(why)}`,
      ),
    );
  }
  // Well-formed: wildcards, upper case, underscores, digits, IDNA A-labels.
  const good = await leafOf(r, {
    dns: ["*.broker.example", "Broker.Example", "_mqtt.example", "10.0.0.1", "xn--bcher-kva.de"],
  });
  await verify([good], [r], "a.broker.example");
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("verifyServerChain() refuses a CA whose DNS or IP name constraints are malformed", async () => {
  const r = await root();
  for (
    const [bad, why] of [
      [".example.com", "it starts with a period"],
      ["*.example.com", "it has a wildcard that is not the whole left-most label"],
      ["example..com", "it has an empty label"],
      ["example.com.", "it ends with a period"],
      [`${"b".repeat(64)}.com`, "it has a label of 64 characters, more than 63"],
    ]
  ) {
    const int = await issue({
      subject: "CN=Constrained",
      issuer: r,
      slot: 2,
      basic: { ca: true },
      nameConstraints: { permitted: [subtree("broker.example"), subtree(bad)] },
    });
    // The leaf lies inside the good subtree: the malformed one still voids the CA.
    await rejects(
      verify([await leafOf(int, { dns: ["a.example.com"] }), int], [r], "a.example.com"),
      "bad_certificate",
      `Certificate "CN=Constrained" has nameConstraints with a malformed DNS subtree "${bad}": ${why}`,
    );
  }
  const mask = new Uint8Array([10, 0, 0, 0, 255, 0, 255, 0]); // 10.0.0.0 / 255.0.255.0
  const int = await issue({
    subject: "CN=Constrained",
    issuer: r,
    slot: 2,
    basic: { ca: true },
    nameConstraints: { permitted: [encodeTlv(TAG.SEQUENCE, encodeTlv(0x87, mask))] },
  });
  await rejects(
    verify([await leafOf(int, { ips: ["10.0.0.1"] }), int], [r]),
    "bad_certificate",
    'Certificate "CN=Constrained" has nameConstraints with a malformed IP subtree: its mask is ' +
      "not a prefix length (CIDR)",
  );
});

Deno.test("verifyServerChain() refuses name constraints that exceed the comparison budget, quickly", async () => {
  const r = await root();
  const constrainedCa = (n: number) =>
    issue({
      subject: "CN=Many Subtrees",
      issuer: r,
      slot: 2,
      basic: { ca: true },
      nameConstraints: {
        permitted: Array.from({ length: n }, (_, i) => subtree(`p${i}.example`)),
        excluded: [subtree("excluded.example")],
      },
    });
  const manyNames = (ca: Issued, n: number) =>
    leafOf(ca, { dns: Array.from({ length: n }, (_, i) => `h${i}.p${i}.example`) });
  // 2000 subtrees (+1) x 2000 names: 4 million comparisons, refused before the first.
  const ca = await constrainedCa(2000);
  const leaf = await manyNames(ca, 2000);
  const started = performance.now();
  await rejects(
    verify([leaf, ca], [r], "h0.p0.example"),
    "bad_certificate",
    'Certificate "CN=Many Subtrees" has nameConstraints that would take 4002000 name ' +
      `comparisons to check, more than the ${NAME_COMPARISON_BUDGET} left of the ` +
      `${NAME_COMPARISON_BUDGET} allowed for a chain`,
  );
  const refusedMs = performance.now() - started;
  // Just inside the budget: accepted, and every comparison made.
  const side = Math.floor(Math.sqrt(NAME_COMPARISON_BUDGET)) - 1; // (side + 1) * side < budget
  const fitCa = await constrainedCa(side);
  const fitLeaf = await manyNames(fitCa, side);
  const t0 = performance.now();
  await verify([fitLeaf, fitCa], [r], "h0.p0.example");
  const acceptedMs = performance.now() - t0;
  console.log(
    `name-constraint budget ${NAME_COMPARISON_BUDGET}: 2001 x 2000 refused in ` +
      `${refusedMs.toFixed(1)} ms; ${side + 1} x ${side} checked and accepted in ` +
      `${acceptedMs.toFixed(1)} ms`,
  );
  // Generous for a shared, loaded machine: the refusal costs a few milliseconds of parsing.
  assert.ok(refusedMs < 1_000, `refusal took ${refusedMs} ms`);
});

Deno.test("verifyServerChain() does not require key identifiers, but refuses malformed ones", async () => {
  // Presence: none anywhere (RFC 5280 asks CAs for them; Go and webpki do not require them).
  const bare = await root({ noKeyIds: true });
  const bareInt = await issue({
    subject: "CN=Bare Int",
    issuer: bare,
    slot: 2,
    basic: { ca: true },
    noKeyIds: true,
  });
  await verify([await leafOf(bareInt, { noKeyIds: true }), bareInt], [bare]);
  // Form (the root has no subject key id, so the leaves' made-up ones do not contradict it).
  const r = bare;
  const aki = (critical: boolean, ...fields: Uint8Array[]) =>
    rawExtension("2.5.29.35", critical, encodeTlv(TAG.SEQUENCE, ...fields));
  const issuerName = encodeTlv(
    0xa1,
    encodeTlv(0xa4, new Uint8Array(r.generated.subjectName.toArrayBuffer())),
  );
  const serial = encodeTlv(0x82, new Uint8Array([1]));
  const cases: [x509.Extension, string][] = [
    [
      aki(true, keyId(1, 2)),
      "marks its authorityKeyIdentifier extension critical, which RFC 5280 forbids",
    ],
    [
      rawExtension("2.5.29.14", true, encodeTlv(TAG.OCTET_STRING, new Uint8Array([1, 2]))),
      "marks its subjectKeyIdentifier extension critical, which RFC 5280 forbids",
    ],
    [
      aki(false, keyId(1, 2), issuerName),
      "has an authorityKeyIdentifier with only one of authorityCertIssuer and " +
      "authorityCertSerialNumber, which RFC 5280 4.2.1.1 requires together",
    ],
    [aki(false), "has an empty authorityKeyIdentifier extension"],
    [aki(false, keyId()), "has an empty authority key identifier"],
    [
      rawExtension("2.5.29.14", false, encodeTlv(TAG.OCTET_STRING, new Uint8Array(0))),
      "has an empty subject key identifier",
    ],
  ];
  for (const [ext, why] of cases) {
    const leaf = await leafOf(r, { noKeyIds: true, extensions: [ext] });
    await rejects(verify([leaf], [r]), "bad_certificate", `Certificate "CN=broker.example" ${why}`);
  }
  // Issuer and serial beside the key id are allowed (legacy roots carry them).
  const full = await leafOf(r, {
    noKeyIds: true,
    extensions: [aki(false, keyId(...new Uint8Array(20)), issuerName, serial)],
  });
  await verify([full], [r]);
});

Deno.test("verifyServerChain() decides criticality as the RFC requires, not more", async () => {
  // Accepted: non-critical basicConstraints on CAs (easy-rsa), non-critical nameConstraints
  // (CA/B Forum), critical extendedKeyUsage, critical subjectAltName beside a subject.
  const bc = (ca: boolean) =>
    rawExtension(
      "2.5.29.19",
      false,
      encodeTlv(TAG.SEQUENCE, ...(ca ? [encodeTlv(TAG.BOOLEAN, new Uint8Array([0xff]))] : [])),
    );
  const r = await root({ basic: null, keyUsage: KU.keyCertSign, extensions: [bc(true)] });
  const int = await issue({
    subject: "CN=Int",
    issuer: r,
    slot: 2,
    basic: null,
    keyUsage: KU.keyCertSign,
    extensions: [
      bc(true),
      rawExtension(
        "2.5.29.30",
        false,
        encodeTlv(TAG.SEQUENCE, encodeTlv(0xa0, subtree("broker.example"))),
      ),
    ],
  });
  const leaf = await leafOf(int, {
    eku: null,
    dns: [],
    extensions: [
      new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1"], true),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "broker.example" }], true),
    ],
  });
  await verify([leaf, int], [r]);
  // An empty subject needs a critical subjectAltName (RFC 5280 4.2.1.6).
  const emptySubject = (critical: boolean) =>
    issue({
      subject: "",
      issuer: int,
      slot: 3,
      extensions: [
        new x509.SubjectAlternativeNameExtension(
          [{ type: "dns", value: "broker.example" }],
          critical,
        ),
      ],
    });
  await verify([await emptySubject(true), int], [r]);
  const bad = await emptySubject(false);
  await rejects(
    verify([bad, int], [r]),
    "bad_certificate",
    `Certificate "(empty subject, serial ${bad.cert.serialNumber})" has an empty subject and a ` +
      "non-critical subjectAltName, which RFC 5280 4.2.1.6 requires to be critical",
  );
});

Deno.test("verifyServerChain() holds sent certificates to RFC 5280 serial numbers, not anchors", async () => {
  const withSerial = (c: Issued, serial: number[], issuer?: Issued) =>
    resign(c, (f) => [f[0], encodeTlv(TAG.INTEGER, new Uint8Array(serial)), ...f.slice(2)], issuer);
  const r = await root();
  const int = await issue({ subject: "CN=Int", issuer: r, slot: 2, basic: { ca: true } });
  const leaf = await leafOf(int);
  const refused: [number[], string][] = [
    [[0], "is zero (0x00)"],
    [[0xff, 0x01], "is negative (0xff01)"],
    [[0x00, 0x01], "is not a DER INTEGER (0x0001)"],
    [[0x01, ...new Uint8Array(20)], `is 21 octets long, more than 20 (0x01${"00".repeat(20)})`],
  ];
  for (const [serial, why] of refused) {
    const tail = `; RFC 5280 4.1.2.2 requires a positive number of at most 20 octets`;
    await rejects(
      verify([await withSerial(leaf, serial, int), int], [r]),
      "bad_certificate",
      `Certificate "CN=broker.example" has a serial number that ${why}${tail}`,
    );
    await rejects(
      verify([leaf, await withSerial(int, serial, r)], [r]),
      "bad_certificate",
      `Certificate "CN=Int" has a serial number that ${why}${tail}`,
    );
  }
  // 20 octets, with the sign byte making 21 bytes: fine.
  const longest = await withSerial(leaf, [0x00, 0x80, ...new Uint8Array(19)], int);
  await verify([longest, int], [r]);
  // A trust anchor is the user's choice: its serial is not checked.
  const zeroRoot = await withSerial(r, [0]);
  await verify([leaf, int], [zeroRoot]);
});
