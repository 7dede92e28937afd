import assert from "node:assert/strict";
import { ecdsaRawToDer } from "../x509/mod.ts";
import { x509 } from "../x509/testing.ts";
import { createCsr, encodeName, parseSubject } from "./csr.ts";
import { makeSigningKey } from "./_key_base.ts";
import { schemeInfo, schemesForKeyType } from "./schemes.ts";
import type { KeyType } from "./signing_key.ts";

/** A WebCrypto key pair behind the SigningKey seam (what the file provider does). */
async function webCryptoKey(kind: "p256" | "p384" | "rsa" | "ed25519") {
  const alg = kind === "p256"
    ? { name: "ECDSA", namedCurve: "P-256" }
    : kind === "p384"
    ? { name: "ECDSA", namedCurve: "P-384" }
    : kind === "rsa"
    ? {
      name: "RSA-PSS",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: Uint8Array.of(1, 0, 1),
    }
    : { name: "Ed25519" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const keyType: KeyType = kind === "p256"
    ? { kind: "ec", curve: "P-256" }
    : kind === "p384"
    ? { kind: "ec", curve: "P-384" }
    : kind === "rsa"
    ? { kind: "rsa", bits: 2048 }
    : { kind: "ed25519" };
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return makeSigningKey({
    description: kind,
    keyType,
    publicKeySpki: new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    schemes: schemesForKeyType(keyType),
    async sign(scheme, message) {
      const info = schemeInfo(scheme)!;
      const data = new Uint8Array(message);
      if (info.algorithm === "ecdsa") {
        return ecdsaRawToDer(
          new Uint8Array(
            await crypto.subtle.sign({ name: "ECDSA", hash: info.hash! }, keys.privateKey, data),
          ),
        );
      }
      if (info.algorithm === "rsa-pss") {
        const k = await crypto.subtle.importKey(
          "pkcs8",
          pkcs8,
          { name: "RSA-PSS", hash: info.hash! },
          false,
          ["sign"],
        );
        const saltLength = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 }[info.hash!];
        return new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength }, k, data));
      }
      if (info.algorithm === "rsa-pkcs1") {
        const k = await crypto.subtle.importKey(
          "pkcs8",
          pkcs8,
          { name: "RSASSA-PKCS1-v1_5", hash: info.hash! },
          false,
          ["sign"],
        );
        return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", k, data));
      }
      return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, data));
    },
  });
}

Deno.test("parseSubject() reads NAME=value pairs with escapes, in order", () => {
  assert.deepEqual(parseSubject("CN=edge-0001, O=ACME\\, Inc.,c=DE"), [
    ["CN", "edge-0001"],
    ["O", "ACME, Inc."],
    ["C", "DE"],
  ]);
});

Deno.test("parseSubject() refuses unknown names, empty values and a missing CN", () => {
  assert.throws(() => parseSubject("CN=a,XX=b"), /"XX=b" is not NAME=value/);
  assert.throws(() => parseSubject("edge"), /"edge" is not NAME=value/);
  assert.throws(() => parseSubject("CN="), /CN is empty/);
  assert.throws(() => parseSubject("O=acme"), /it has no CN/);
  assert.throws(() => parseSubject("CN=a,C=DEU"), /C is longer than 2/);
});

Deno.test("encodeName() writes one RDN per attribute (byte fixture)", () => {
  // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "ab" } }, SET { SEQUENCE { 2.5.4.6, PrintableString "DE" } } }
  const expected = Uint8Array.of(
    ...[0x30, 0x1a],
    ...[0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 0x61, 0x62],
    ...[0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x44, 0x45],
  );
  assert.deepEqual(encodeName([["CN", "ab"], ["C", "DE"]]), expected);
});

Deno.test("createCsr() makes requests that an independent PKCS#10 parser verifies", async () => {
  for (const kind of ["p256", "p384", "rsa", "ed25519"] as const) {
    const key = await webCryptoKey(kind);
    for (const scheme of key.schemes) {
      const der = await createCsr(key, parseSubject(`CN=device-${kind},O=Test`), scheme);
      const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
      assert.equal(csr.subject, `CN=device-${kind}, O=Test`);
      assert.deepEqual(new Uint8Array(csr.publicKey.rawData), key.publicKeySpki);
      assert.ok(await csr.verify(), `${kind} 0x${scheme.toString(16)}`);
    }
  }
});
