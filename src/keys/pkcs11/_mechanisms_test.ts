import assert from "node:assert/strict";
import { SignatureScheme as S } from "../schemes.ts";
import { CKM, mechanismFor } from "./_mechanisms.ts";

const hex = (b: Uint8Array | undefined) =>
  [...b ?? []].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("mechanismFor() wraps an RSA PKCS#1 v1.5 digest in the DigestInfo of RFC 8017 9.2 for CKM_RSA_PKCS", () => {
  const raw = new Set([CKM.RSA_PKCS]);
  // RFC 8017 section 9.2, note 1: the DER of DigestInfo up to the hash value.
  assert.equal(
    hex(mechanismFor(S.rsa_pkcs1_sha256, raw).digestInfo),
    "3031300d060960864801650304020105000420",
  );
  assert.equal(
    hex(mechanismFor(S.rsa_pkcs1_sha384, raw).digestInfo),
    "3041300d060960864801650304020205000430",
  );
  assert.equal(
    hex(mechanismFor(S.rsa_pkcs1_sha512, raw).digestInfo),
    "3051300d060960864801650304020305000440",
  );
  // The hashing mechanisms when the token has them (or nothing is known about the token).
  assert.equal(mechanismFor(S.rsa_pkcs1_sha384).mechanism.mechanism, CKM.SHA384_RSA_PKCS);
  const both = new Set([CKM.RSA_PKCS, CKM.SHA512_RSA_PKCS]);
  assert.equal(mechanismFor(S.rsa_pkcs1_sha512, both).mechanism.mechanism, CKM.SHA512_RSA_PKCS);
  assert.equal(mechanismFor(S.rsa_pkcs1_sha512, both).prehash, undefined);
});
