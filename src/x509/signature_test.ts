import assert from "node:assert/strict";
import { importVerifyKey, publicKeyInfo, spkiOf, verifySpkiSignature } from "./mod.ts";
import { signatureAlgorithm, verifySignature } from "./signature.ts";
import { issue, type Kind } from "./_test_pki.ts";
import { encodeTlv, readOne } from "./der.ts";
import { ecdsaRawToDer } from "./ecdsa_der.ts";

Deno.test("publicKeyInfo() tells key types, curves and RSA sizes", async () => {
  const expected: [Kind, unknown][] = [
    ["rsa", { kind: "rsa", bits: 2048, pssOnly: false }],
    ["p256", { kind: "ec", curve: "P-256" }],
    ["p384", { kind: "ec", curve: "P-384" }],
    ["p521", { kind: "ec", curve: "P-521" }],
    ["ed25519", { kind: "ed25519" }],
  ];
  for (const [kind, info] of expected) {
    const { cert } = await issue({ subject: `CN=${kind}`, kind });
    assert.deepEqual(publicKeyInfo(spkiOf(cert)), info);
  }
  const x25519 = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", x25519.publicKey));
  assert.throws(() => publicKeyInfo(spki), {
    name: "UnsupportedAlgorithmError",
    message: "public key algorithm 1.3.101.110",
  });
});

/** An AlgorithmIdentifier for RSASSA-PSS with the given parameter fields. */
function pss(...fields: Uint8Array[]) {
  const oid = encodeTlv(
    0x06,
    new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]),
  );
  return readOne(encodeTlv(0x30, oid, encodeTlv(0x30, ...fields)));
}
const sha = (last: number) =>
  encodeTlv(
    0x30,
    encodeTlv(0x06, new Uint8Array([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last])),
    new Uint8Array([5, 0]),
  );
const mgf1 = (hash: Uint8Array) =>
  encodeTlv(
    0x30,
    encodeTlv(0x06, new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08])),
    hash,
  );
const int = (n: number) => encodeTlv(0x02, new Uint8Array([n]));

Deno.test("signatureAlgorithm() reads RSA-PSS parameters (RFC 4055 3.1) and refuses SHA-1", () => {
  assert.deepEqual(
    signatureAlgorithm(
      pss(encodeTlv(0xa0, sha(1)), encodeTlv(0xa1, mgf1(sha(1))), encodeTlv(0xa2, int(32))),
    ),
    { kind: "rsa-pss", hash: "SHA-256", saltLength: 32 },
  );
  assert.deepEqual(
    signatureAlgorithm(
      pss(
        encodeTlv(0xa0, sha(2)),
        encodeTlv(0xa1, mgf1(sha(2))),
        encodeTlv(0xa2, int(48)),
        encodeTlv(0xa3, int(1)),
      ),
    ),
    { kind: "rsa-pss", hash: "SHA-384", saltLength: 48 },
  );
  assert.throws(() => signatureAlgorithm(pss()), { message: "RSA-PSS with SHA-1 is not accepted" });
  assert.throws(
    () => signatureAlgorithm(pss(encodeTlv(0xa0, sha(1)), encodeTlv(0xa1, mgf1(sha(3))))),
    { message: "RSA-PSS with MGF1 over another hash" },
  );
  assert.throws(
    () =>
      signatureAlgorithm(
        pss(encodeTlv(0xa0, sha(1)), encodeTlv(0xa1, mgf1(sha(1))), encodeTlv(0xa3, int(2))),
      ),
    { message: "RSA-PSS trailer field is not 1" },
  );
});

Deno.test("importVerifyKey() gives a WebCrypto key that checks a real signature", async () => {
  const { cert, keys } = await issue({ subject: "CN=k", kind: "p384" });
  const key = await importVerifyKey(spkiOf(cert), { name: "ECDSA", namedCurve: "P-384" });
  const data = new TextEncoder().encode("hello");
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, keys.privateKey, data);
  assert.equal(
    await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, key, sig, data),
    true,
  );
});

Deno.test("verifySignature() is false for a malformed or wrong ECDSA signature", async () => {
  const { cert, keys } = await issue({ subject: "CN=e", kind: "p256" });
  const alg = { kind: "ecdsa", hash: "SHA-256" } as const;
  const data = new TextEncoder().encode("hello");
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, data),
  );
  const der = ecdsaRawToDer(raw);
  assert.equal(await verifySignature(alg, spkiOf(cert), data, der), true);
  assert.equal(await verifySignature(alg, spkiOf(cert), data, raw), false);
  assert.equal(await verifySignature(alg, spkiOf(cert), data, der.subarray(0, -1)), false);
  const other = new TextEncoder().encode("hellO");
  assert.equal(await verifySignature(alg, spkiOf(cert), other, der), false);
});

Deno.test("verifySpkiSignature() has no key strength floor; verifySignature() refuses weak keys", async () => {
  const { cert, keys } = await issue({ subject: "CN=weak", kind: "rsa1024" });
  const alg = { kind: "rsa-pkcs1", hash: "SHA-256" } as const;
  const data = new TextEncoder().encode("hello");
  const sig = new Uint8Array(
    await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, keys.privateKey, data),
  );
  assert.equal(await verifySpkiSignature(alg, spkiOf(cert), data, sig), true);
  assert.equal(await verifySpkiSignature(alg, spkiOf(cert), data.subarray(1), sig), false);
  assert.equal(
    await verifySpkiSignature({ kind: "ecdsa", hash: "SHA-256" }, spkiOf(cert), data, sig),
    false,
  );
  await assert.rejects(verifySignature(alg, spkiOf(cert), data, sig), {
    name: "UnsupportedAlgorithmError",
    message: "RSA key of 1024 bits is too weak (at least 2048 needed)",
  });
});
