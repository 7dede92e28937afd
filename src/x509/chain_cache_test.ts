/**
 * The cache of verified chains (_chain_cache.ts): a hit needs the same trust store object, the
 * same server name, the same chain bytes and a time inside every path certificate's validity;
 * anything else is verified in full. A hit is visible as the same leaf object coming back.
 */
import assert from "node:assert/strict";
import { CertificateError, TrustStore, verifyServerChain } from "./mod.ts";
import { issue, simpleChain } from "./_test_pki.ts";

const DAY = 86_400_000;

async function fixture() {
  const { root, int, server } = await simpleChain("p256", { dns: ["broker.example", "b.example"] });
  const store = TrustStore.fromCertificates([root.cert], "test store");
  const chain = [server.der, int.der];
  return { root, int, server, store, chain };
}

Deno.test("verifyServerChain() reuses a verification for the same store, name and chain", async () => {
  const { store, chain } = await fixture();
  const first = await verifyServerChain({ chain, serverName: "broker.example", trustStore: store });
  const again = await verifyServerChain({
    chain: chain.map((c) => c.slice()), // equal bytes, other arrays
    serverName: "broker.example",
    trustStore: store,
  });
  assert.equal(again.leaf, first.leaf, "a hit");
  assert.deepEqual(again.leafSpki, first.leafSpki);
  assert.deepEqual(again.path.map((c) => c.subject), first.path.map((c) => c.subject));
  // What callers get is theirs: changing it leaves the stored result alone.
  again.leafSpki.fill(0);
  again.path.length = 0;
  const third = await verifyServerChain({ chain, serverName: "broker.example", trustStore: store });
  assert.deepEqual(third.leafSpki, first.leafSpki);
  assert.equal(third.path.length, 3);
});

Deno.test("verifyServerChain() misses the cache for another trust store, name or chain", async () => {
  const { root, int, server, store, chain } = await fixture();
  const first = await verifyServerChain({ chain, serverName: "broker.example", trustStore: store });
  // The same anchors in a new store object: verified again.
  const reloaded = TrustStore.fromCertificates([root.cert], "test store");
  const r1 = await verifyServerChain({ chain, serverName: "broker.example", trustStore: reloaded });
  assert.notEqual(r1.leaf, first.leaf);
  // A store without that root refuses the chain that the first store accepted.
  const other = await issue({ subject: "CN=Other Root", slot: 7 });
  const without = TrustStore.fromCertificates([other.cert], "other store");
  await assert.rejects(
    verifyServerChain({ chain, serverName: "broker.example", trustStore: without }),
    (e: unknown) => e instanceof CertificateError && e.alert === "unknown_ca",
  );
  // Another name the certificate holds: verified again; a name it does not hold: refused.
  const r2 = await verifyServerChain({ chain, serverName: "b.example", trustStore: store });
  assert.notEqual(r2.leaf, first.leaf);
  await assert.rejects(
    verifyServerChain({ chain, serverName: "evil.example", trustStore: store }),
    (e: unknown) =>
      e instanceof CertificateError && /is not valid for "evil.example"/.test(e.message),
  );
  // One byte changed in the leaf's signature: verified again, and refused.
  const forged = server.der.slice();
  forged[forged.length - 1] ^= 1;
  await assert.rejects(
    verifyServerChain({
      chain: [forged, int.der],
      serverName: "broker.example",
      trustStore: store,
    }),
    (e: unknown) => e instanceof CertificateError && e.alert === "bad_certificate",
  );
  // A chain with one more certificate is other bytes too.
  const r3 = await verifyServerChain({
    chain: [...chain, root.der],
    serverName: "broker.example",
    trustStore: store,
  });
  assert.notEqual(r3.leaf, first.leaf);
});

Deno.test("verifyServerChain() checks the time again on every hit: expired entries miss", async () => {
  const notAfter = new Date(Date.now() + 2 * DAY);
  const { root, int } = await simpleChain();
  const server = await issue({
    subject: "CN=broker.example",
    issuer: int,
    slot: 3,
    dns: ["broker.example"],
    notBefore: new Date(Date.now() - DAY),
    notAfter,
  });
  const store = TrustStore.fromCertificates([root.cert], "test store");
  const chain = [server.der, int.der];
  const opts = { chain, serverName: "broker.example", trustStore: store };
  const first = await verifyServerChain(opts);
  assert.equal((await verifyServerChain({ ...opts, now: new Date() })).leaf, first.leaf);
  // After the leaf's notAfter: full verification, which refuses it.
  await assert.rejects(
    verifyServerChain({ ...opts, now: new Date(notAfter.getTime() + 1000) }),
    (e: unknown) => e instanceof CertificateError && e.alert === "certificate_expired",
  );
  // Before its notBefore, likewise.
  await assert.rejects(
    verifyServerChain({ ...opts, now: new Date(Date.now() - 2 * DAY) }),
    (e: unknown) => e instanceof CertificateError && /is not valid before/.test(e.message),
  );
  // Still a hit inside the window.
  assert.equal((await verifyServerChain(opts)).leaf, first.leaf);
});

Deno.test("verifyServerChain() stores no failure: a refused chain is refused again in full", async () => {
  const { store, chain } = await fixture();
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      verifyServerChain({ chain, serverName: "nope.example", trustStore: store }),
      (e: unknown) =>
        e instanceof CertificateError && /is not valid for "nope.example"/.test(e.message),
    );
  }
});
