import assert from "node:assert/strict";
import { isTls12Only, schemesForKeyType, SignatureScheme as S } from "./schemes.ts";

Deno.test("schemesForKeyType() binds each ECDSA curve to its one TLS 1.3 scheme", () => {
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-256" }), [S.ecdsa_secp256r1_sha256]);
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-384" }), [S.ecdsa_secp384r1_sha384]);
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-521" }), [S.ecdsa_secp521r1_sha512]);
  assert.deepEqual(schemesForKeyType({ kind: "ed25519" }), [S.ed25519]);
});

Deno.test("schemesForKeyType() offers RSA-PSS first, then PKCS#1 v1.5 (TLS 1.2 only), where each fits", () => {
  const pss = [S.rsa_pss_rsae_sha256, S.rsa_pss_rsae_sha384, S.rsa_pss_rsae_sha512];
  const pkcs1 = [S.rsa_pkcs1_sha256, S.rsa_pkcs1_sha384, S.rsa_pkcs1_sha512];
  assert.deepEqual(schemesForKeyType({ kind: "rsa", bits: 2048 }), [...pss, ...pkcs1]);
  // 1024 bits: emLen 128 < 2 * 64 + 2, so no PSS with SHA-512 (RFC 8017 section 9.1.1);
  // PKCS#1 v1.5 with SHA-512 needs 64 + 19 + 11 = 94 bytes, which fit.
  assert.deepEqual(schemesForKeyType({ kind: "rsa", bits: 1024 }), [...pss.slice(0, 2), ...pkcs1]);
  assert.deepEqual(pkcs1.map(isTls12Only), [true, true, true]);
  assert.deepEqual([...pss, S.ecdsa_secp256r1_sha256, S.ed25519].map(isTls12Only), [
    false,
    false,
    false,
    false,
    false,
  ]);
});
