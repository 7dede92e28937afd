import assert from "node:assert/strict";
import { schemesForKeyType, SignatureScheme as S } from "./schemes.ts";

Deno.test("schemesForKeyType() binds each ECDSA curve to its one TLS 1.3 scheme", () => {
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-256" }), [S.ecdsa_secp256r1_sha256]);
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-384" }), [S.ecdsa_secp384r1_sha384]);
  assert.deepEqual(schemesForKeyType({ kind: "ec", curve: "P-521" }), [S.ecdsa_secp521r1_sha512]);
  assert.deepEqual(schemesForKeyType({ kind: "ed25519" }), [S.ed25519]);
});

Deno.test("schemesForKeyType() offers RSA-PSS only (never PKCS#1 v1.5) and only where it fits", () => {
  const all = [S.rsa_pss_rsae_sha256, S.rsa_pss_rsae_sha384, S.rsa_pss_rsae_sha512];
  assert.deepEqual(schemesForKeyType({ kind: "rsa", bits: 2048 }), all);
  // 1024 bits: emLen 128 < 2 * 64 + 2, so no SHA-512 (RFC 8017 section 9.1.1).
  assert.deepEqual(schemesForKeyType({ kind: "rsa", bits: 1024 }), all.slice(0, 2));
});
