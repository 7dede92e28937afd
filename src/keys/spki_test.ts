import assert from "node:assert/strict";
import { ecdsaRawToDer } from "../x509/mod.ts";
import { SignatureScheme } from "./schemes.ts";
import {
  describeKeyType,
  ecSpki,
  ed25519Spki,
  parseSpki,
  rsaSpki,
  sameKey,
  verifySignature,
} from "./spki.ts";

const b64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** An extractable key pair for the tests. */
function generate(algorithm: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm) {
  return crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

const rsaPss = (hash: string): RsaHashedKeyGenParams => ({
  name: "RSA-PSS",
  hash,
  modulusLength: 2048,
  publicExponent: Uint8Array.of(1, 0, 1),
});

async function exported(keys: CryptoKeyPair) {
  return {
    spki: new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    jwk: await crypto.subtle.exportKey("jwk", keys.publicKey),
  };
}

Deno.test("ecSpki() builds the same bytes WebCrypto exports for P-256, P-384 and P-521", async () => {
  for (const curve of ["P-256", "P-384", "P-521"] as const) {
    const keys = await generate({ name: "ECDSA", namedCurve: curve });
    const { spki, jwk } = await exported(keys);
    const point = Uint8Array.of(4, ...b64url(jwk.x!), ...b64url(jwk.y!));
    assert.deepEqual(ecSpki(curve, point), spki);
    assert.deepEqual(parseSpki(spki).keyType, { kind: "ec", curve });
  }
});

Deno.test("rsaSpki() builds the same bytes WebCrypto exports", async () => {
  const keys = await generate(rsaPss("SHA-256"));
  const { spki, jwk } = await exported(keys);
  // A token may report the modulus with a leading zero byte: the SPKI must not change.
  const modulus = Uint8Array.of(0, ...b64url(jwk.n!));
  assert.deepEqual(rsaSpki(modulus, b64url(jwk.e!)), spki);
  assert.deepEqual(parseSpki(spki).keyType, { kind: "rsa", bits: 2048 });
  assert.equal(describeKeyType(parseSpki(spki).keyType), "RSA 2048");
});

Deno.test("ed25519Spki() builds the same bytes WebCrypto exports", async () => {
  const keys = await generate({ name: "Ed25519" });
  const { spki, jwk } = await exported(keys);
  assert.deepEqual(ed25519Spki(b64url(jwk.x!)), spki);
  assert.deepEqual(parseSpki(spki).keyType, { kind: "ed25519" });
});

Deno.test("ecSpki() refuses a point of the wrong size", () => {
  assert.throws(() => ecSpki("P-256", new Uint8Array(97)), /Invalid P-256 public point/);
  assert.throws(() => ed25519Spki(new Uint8Array(31)), /Invalid Ed25519 public key/);
});

Deno.test("sameKey() compares key values, not encodings", () => {
  const n = new Uint8Array(256).fill(0xab);
  const e = Uint8Array.of(1, 0, 1);
  const withNull = rsaSpki(n, e);
  // The same key with absent (instead of NULL) algorithm parameters.
  const withoutNull = Uint8Array.of(
    0x30,
    0x82,
    0x01,
    0x20,
    0x30,
    0x0b,
    ...withNull.subarray(6, 6 + 11),
    ...withNull.subarray(6 + 13),
  );
  assert.notDeepEqual(withNull, withoutNull);
  assert.ok(sameKey(withNull, withoutNull));
  assert.equal(sameKey(withNull, rsaSpki(n.map((b) => b ^ 1), e)), false);
  assert.equal(sameKey(withNull, Uint8Array.of(1, 2, 3)), false);
});

Deno.test("parseSpki() names an unsupported key type", () => {
  // X25519 SPKI (RFC 8410): 302a300506032b656e032100 || 32 bytes.
  const x25519 = Uint8Array.of(
    ...[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00],
    ...new Uint8Array(32),
  );
  assert.throws(() => parseSpki(x25519), /Unsupported public key type: X25519/);
});

Deno.test("verifySignature() checks each scheme and refuses one that does not fit the key", async () => {
  const keys = await generate({ name: "ECDSA", namedCurve: "P-256" });
  const { spki } = await exported(keys);
  const msg = new TextEncoder().encode("hello");
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, msg),
  );
  const der = ecdsaRawToDer(raw);
  assert.ok(await verifySignature(spki, SignatureScheme.ecdsa_secp256r1_sha256, msg, der));
  assert.equal(
    await verifySignature(spki, SignatureScheme.ecdsa_secp256r1_sha256, msg, raw),
    false,
  );
  await assert.rejects(
    verifySignature(spki, SignatureScheme.ecdsa_secp384r1_sha384, msg, der),
    /Scheme ecdsa_secp384r1_sha384 does not fit a EC P-256 key/,
  );
});

Deno.test("verifySignature() checks RSA-PSS (rsae, salt = hash length), RSA PKCS#1 v1.5 and Ed25519 signatures", async () => {
  const msg = new TextEncoder().encode("hello");
  const rsa = await generate(rsaPss("SHA-384"));
  const rsaSpkiBytes = (await exported(rsa)).spki;
  const pss = new Uint8Array(
    await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 48 }, rsa.privateKey, msg),
  );
  assert.ok(await verifySignature(rsaSpkiBytes, SignatureScheme.rsa_pss_rsae_sha384, msg, pss));
  const shortSalt = new Uint8Array(
    await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 20 }, rsa.privateKey, msg),
  );
  assert.equal(
    await verifySignature(rsaSpkiBytes, SignatureScheme.rsa_pss_rsae_sha384, msg, shortSalt),
    false,
  );
  await assert.rejects(
    verifySignature(rsaSpkiBytes, SignatureScheme.rsa_pss_pss_sha384, msg, pss),
    /Scheme rsa_pss_pss_sha384 does not fit a RSA 2048 key/,
  );
  // RSA PKCS#1 v1.5 (TLS 1.2 CertificateVerify): the same key, imported for that algorithm.
  const pkcs1Key = await crypto.subtle.importKey(
    "pkcs8",
    await crypto.subtle.exportKey("pkcs8", rsa.privateKey),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const pkcs1 = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pkcs1Key, msg));
  assert.ok(await verifySignature(rsaSpkiBytes, SignatureScheme.rsa_pkcs1_sha256, msg, pkcs1));
  assert.equal(
    await verifySignature(rsaSpkiBytes, SignatureScheme.rsa_pkcs1_sha384, msg, pkcs1),
    false,
  );
  const ed = await generate({ name: "Ed25519" });
  const edSpki = (await exported(ed)).spki;
  const edSig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, ed.privateKey, msg));
  assert.ok(await verifySignature(edSpki, SignatureScheme.ed25519, msg, edSig));
  assert.equal(
    await verifySignature(edSpki, SignatureScheme.ed25519, msg.subarray(1), edSig),
    false,
  );
  await assert.rejects(
    verifySignature(edSpki, SignatureScheme.ecdsa_secp256r1_sha256, msg, edSig),
    /Scheme ecdsa_secp256r1_sha256 does not fit a Ed25519 key/,
  );
});
