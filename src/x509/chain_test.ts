import assert from "node:assert/strict";
import { CertificateError, spkiOf, TrustStore, verifyServerChain } from "./mod.ts";
import { TestPki } from "../../tests/helpers/pki.ts";
import { CLIENT_AUTH, issue, type Kind, simpleChain, tamper } from "./_test_pki.ts";

const DAY = 86_400_000;

function storeOf(...certs: { cert: import("./mod.ts").X509Certificate }[]) {
  return TrustStore.fromCertificates(certs.map((c) => c.cert), "test store");
}

/** Asserts that `p` rejects with a CertificateError with this alert and exact message. */
async function rejects(p: Promise<unknown>, alert: string, message: string | RegExp) {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof CertificateError, `expected a CertificateError, got ${err}`);
  assert.equal(err.alert, alert, err.message);
  if (typeof message === "string") assert.equal(err.message, message);
  else assert.match(err.message, message);
  return err;
}

for (const kind of ["rsa", "rsa-pss", "p256", "p384", "p521", "ed25519"] as Kind[]) {
  Deno.test(`verifyServerChain() accepts root -> intermediate -> leaf with ${kind} keys`, async () => {
    const { root, int, server } = await simpleChain(kind);
    const result = await verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    });
    assert.deepEqual(result.path.map((c) => c.subject), [
      "CN=broker.example",
      "CN=Test Intermediate",
      "CN=Test Root",
    ]);
    assert.deepEqual(result.leafSpki, spkiOf(server.cert));
  });
}

Deno.test("verifyServerChain() accepts a chain sent out of order, with the root and extras", async () => {
  const { root, int, server } = await simpleChain();
  const stranger = await issue({ subject: "CN=Unrelated", slot: 9 });
  const result = await verifyServerChain({
    chain: [server.der, stranger.der, root.der, int.der, int.der],
    serverName: "BROKER.example.",
    trustStore: storeOf(root),
  });
  assert.equal(result.path.length, 3);
  assert.equal(result.path[2].subject, "CN=Test Root");
});

Deno.test("verifyServerChain() refuses a chain whose intermediate is missing", async () => {
  const { root, server } = await simpleChain();
  await rejects(
    verifyServerChain({
      chain: [server.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "unknown_ca",
    'Certificate "CN=broker.example" is not trusted: no issuer found in the trust store ' +
      '"test store" (1 certificate): issued by "CN=Test Intermediate"',
  );
});

Deno.test("verifyServerChain() refuses a chain from an unknown CA", async () => {
  const { int, server } = await simpleChain();
  const other = await issue({ subject: "CN=Other Root", slot: 8 });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(other),
    }),
    "unknown_ca",
    'Certificate "CN=Test Intermediate" is not trusted: no issuer found in the trust store ' +
      '"test store" (1 certificate): issued by "CN=Test Root"',
  );
});

Deno.test("verifyServerChain() refuses a root with the right name but another key", async () => {
  const { int, server } = await simpleChain();
  const impostor = await issue({ subject: "CN=Test Root", slot: 8, noKeyIds: true });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(impostor),
    }),
    "bad_certificate",
    'Certificate "CN=Test Intermediate" has a signature (ECDSA SHA-256) that does not verify ' +
      'with the key of "CN=Test Root" (an ECDSA P-256 key)',
  );
});

Deno.test("verifyServerChain() refuses a self-signed leaf unless it is in the store", async () => {
  const self = await issue({
    subject: "CN=broker.example",
    dns: ["broker.example"],
    keyUsage: 1 | 32, // digitalSignature, keyCertSign
  });
  const { root } = await simpleChain();
  await rejects(
    verifyServerChain({
      chain: [self.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "unknown_ca",
    'Certificate "CN=broker.example" is not trusted: it is self-signed and not in the trust ' +
      'store "test store" (1 certificate)',
  );
  const result = await verifyServerChain({
    chain: [self.der],
    serverName: "broker.example",
    trustStore: storeOf(root, self),
  });
  assert.equal(result.path.length, 1);
});

Deno.test("verifyServerChain() refuses an expired leaf and names the date", async () => {
  const { root, int, server } = await simpleChain("p256", {
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2021-01-01T00:00:00Z"),
  });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "certificate_expired",
    'Certificate "CN=broker.example" expired on 2021-01-01T00:00:00Z',
  );
});

Deno.test("verifyServerChain() refuses a leaf that is not yet valid", async () => {
  const { root, int, server } = await simpleChain();
  const now = new Date(Date.now() - 2 * DAY);
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
      now,
    }),
    "certificate_expired",
    /^Certificate "CN=broker\.example" is not valid before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(now /,
  );
});

Deno.test("verifyServerChain() refuses an expired intermediate", async () => {
  const root = await issue({ subject: "CN=Test Root", slot: 1 });
  const int = await issue({
    subject: "CN=Old Intermediate",
    issuer: root,
    slot: 2,
    basic: { ca: true },
    notBefore: new Date("2019-01-01T00:00:00Z"),
    notAfter: new Date("2020-06-30T12:00:00Z"),
  });
  const server = await issue({
    subject: "CN=broker.example",
    issuer: int,
    slot: 3,
    dns: ["broker.example"],
  });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "certificate_expired",
    'Certificate "CN=Old Intermediate" expired on 2020-06-30T12:00:00Z',
  );
});

Deno.test("verifyServerChain() refuses a leaf for clientAuth only", async () => {
  const { root, int, server } = await simpleChain("p256", { eku: [CLIENT_AUTH] });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "unsupported_certificate",
    'Certificate "CN=broker.example" is not for TLS servers: its extendedKeyUsage is clientAuth',
  );
});

Deno.test("verifyServerChain() accepts a leaf with anyExtendedKeyUsage or without EKU", async () => {
  for (const eku of [["2.5.29.37.0"], null]) {
    const { root, int, server } = await simpleChain("p256", { eku });
    await verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    });
  }
});

Deno.test("verifyServerChain() refuses a leaf whose keyUsage lacks digitalSignature", async () => {
  const { root, int, server } = await simpleChain("p256", { keyUsage: 4 /* keyEncipherment */ });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "broker.example",
      trustStore: storeOf(root),
    }),
    "unsupported_certificate",
    'Certificate "CN=broker.example" has a keyUsage extension without digitalSignature, which TLS 1.3 needs',
  );
});

Deno.test("verifyServerChain() refuses a certificate for another host and lists its names", async () => {
  const { root, int, server } = await simpleChain("p256", {
    dns: ["broker.example", "*.example.net"],
  });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "other.example",
      trustStore: storeOf(root),
    }),
    "bad_certificate",
    'Certificate "CN=broker.example" is not valid for "other.example": names in the ' +
      "certificate: broker.example, *.example.net",
  );
  await verifyServerChain({
    chain: [server.der, int.der],
    serverName: "a.example.net",
    trustStore: storeOf(root),
  });
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der],
      serverName: "a.b.example.net",
      trustStore: storeOf(root),
    }),
    "bad_certificate",
    /is not valid for "a\.b\.example\.net"/,
  );
});

Deno.test("verifyServerChain() checks IPv4 and IPv6 literals against iPAddress names", async () => {
  const { root, int, server } = await simpleChain("p256", {
    dns: ["broker.example", "10.0.0.1"],
    ips: ["127.0.0.1", "::1"],
  });
  const base = { chain: [server.der, int.der], trustStore: storeOf(root) };
  await verifyServerChain({ ...base, serverName: "127.0.0.1" });
  await verifyServerChain({ ...base, serverName: "::1" });
  await verifyServerChain({ ...base, serverName: "[0:0:0:0:0:0:0:1]" });
  await rejects(
    verifyServerChain({ ...base, serverName: "10.0.0.1" }), // only a dNSName entry: no match
    "bad_certificate",
    'Certificate "CN=broker.example" is not valid for "10.0.0.1": names in the certificate: ' +
      "broker.example, 10.0.0.1, 127.0.0.1, ::1",
  );
});

Deno.test("verifyServerChain() refuses a tampered signature or a tampered body", async () => {
  const { root, int, server } = await simpleChain("rsa");
  const store = storeOf(root);
  await rejects(
    verifyServerChain({
      chain: [tamper(server.der, -1), int.der],
      serverName: "broker.example",
      trustStore: store,
    }),
    "bad_certificate",
    'Certificate "CN=broker.example" has a signature (RSA PKCS#1 v1.5 SHA-256) that does not ' +
      'verify with the key of "CN=Test Intermediate" (an RSA 2048-bit key)',
  );
  // Flip a bit of the subject's "broker": still well-formed, no longer what was signed.
  const at = new TextDecoder("latin1").decode(server.der).indexOf("broker");
  await rejects(
    verifyServerChain({
      chain: [tamper(server.der, at), int.der],
      serverName: "broker.example",
      trustStore: store,
    }),
    "bad_certificate",
    /has a signature \(RSA PKCS#1 v1\.5 SHA-256\) that does not verify/,
  );
});

Deno.test("verifyServerChain() refuses undecodable certificates and an empty chain", async () => {
  const { root, int, server } = await simpleChain();
  const store = storeOf(root);
  await rejects(
    verifyServerChain({
      chain: [server.der, int.der.subarray(0, 100)],
      serverName: "broker.example",
      trustStore: store,
    }),
    "decode_error",
    "Certificate number 2 of 2 in the chain cannot be decoded: element longer than its container",
  );
  const trailing = new Uint8Array([...server.der, 0]);
  await rejects(
    verifyServerChain({ chain: [trailing], serverName: "broker.example", trustStore: store }),
    "decode_error",
    "Certificate number 1 of 1 in the chain cannot be decoded: trailing bytes after element",
  );
  await rejects(
    verifyServerChain({ chain: [], serverName: "broker.example", trustStore: store }),
    "decode_error",
    "Certificate chain from the server is empty",
  );
});

Deno.test("verifyServerChain() refuses a server name that is neither DNS nor IP", async () => {
  const { root, server } = await simpleChain();
  for (const name of ["", "a..b", "bad name", "*.example.com", "1.2.3.256", "fe80::1%eth0"]) {
    await assert.rejects(
      verifyServerChain({ chain: [server.der], serverName: name, trustStore: storeOf(root) }),
      {
        name: "TypeError",
        message: `Invalid server name "${name}": expected a DNS name or an IP address`,
      },
    );
  }
});

Deno.test("verifyServerChain() accepts the chains of tests/helpers/pki.ts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "x509-testpki-" });
  try {
    const pki = await TestPki.create(dir, { kind: "rsa2048" });
    const int = await pki.intermediate("Test Intermediate", { kind: "p384", pathLength: 0 });
    const server = await pki.server("server", { issuer: int, kind: "ed25519" });
    const trustStore = await TrustStore.load(pki.caPath);
    for (const serverName of ["localhost", "127.0.0.1", "::1"]) {
      const result = await verifyServerChain({
        chain: [server.cert, int.cert].map((c) => new Uint8Array(c.rawData)),
        serverName,
        trustStore,
      });
      assert.equal(result.path.length, 3);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
