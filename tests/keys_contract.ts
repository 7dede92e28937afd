/**
 * The SigningKey contract (ARCHITECTURE.md style 10): one suite, run against every provider and
 * key type. Signatures are checked with WebCrypto directly, using the public key taken from the
 * device certificate, so the oracle shares no code with the providers.
 */
import assert from "node:assert/strict";
import { x509 } from "../src/x509/testing.ts";
import {
  ecdsaDerToRaw,
  isTls12Only,
  schemeInfo,
  schemeName,
  SignatureScheme as S,
  type SigningKey,
} from "../src/keys/mod.ts";
import type { KeyKind } from "./helpers/pki.ts";

const UNKNOWN_SCHEME = 0xfefe;

/**
 * What each test key kind must offer. RSA keys: the PSS schemes, then RSA PKCS#1 v1.5, which
 * only TLS 1.2 may use for CertificateVerify (RFC 5246 7.4.8; RFC 8446 4.2.3 forbids it in 1.3).
 */
const RSA_SCHEMES = [
  S.rsa_pss_rsae_sha256,
  S.rsa_pss_rsae_sha384,
  S.rsa_pss_rsae_sha512,
  S.rsa_pkcs1_sha256,
  S.rsa_pkcs1_sha384,
  S.rsa_pkcs1_sha512,
];

export const EXPECTED: Record<KeyKind, { schemes: number[]; keyType: SigningKey["keyType"] }> = {
  p256: { schemes: [S.ecdsa_secp256r1_sha256], keyType: { kind: "ec", curve: "P-256" } },
  p384: { schemes: [S.ecdsa_secp384r1_sha384], keyType: { kind: "ec", curve: "P-384" } },
  rsa2048: { schemes: RSA_SCHEMES, keyType: { kind: "rsa", bits: 2048 } },
  rsa3072: { schemes: RSA_SCHEMES, keyType: { kind: "rsa", bits: 3072 } },
  ed25519: { schemes: [S.ed25519], keyType: { kind: "ed25519" } },
};

/** Verifies a TLS-form signature with WebCrypto (the test oracle). */
export async function webCryptoVerify(
  spki: Uint8Array,
  scheme: number,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const info = schemeInfo(scheme)!;
  const spkiCopy = new Uint8Array(spki);
  if (info.algorithm === "ecdsa") {
    const size = info.curve === "P-256" ? 32 : info.curve === "P-384" ? 48 : 66;
    const key = await crypto.subtle.importKey(
      "spki",
      spkiCopy,
      { name: "ECDSA", namedCurve: info.curve! },
      false,
      ["verify"],
    );
    const raw = ecdsaDerToRaw(signature, size);
    return await crypto.subtle.verify(
      { name: "ECDSA", hash: info.hash! },
      key,
      new Uint8Array(raw),
      new Uint8Array(message),
    );
  }
  if (info.algorithm === "rsa-pkcs1") {
    const key = await crypto.subtle.importKey(
      "spki",
      spkiCopy,
      { name: "RSASSA-PKCS1-v1_5", hash: info.hash! },
      false,
      ["verify"],
    );
    return await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key,
      new Uint8Array(signature),
      new Uint8Array(message),
    );
  }
  if (info.algorithm === "rsa-pss") {
    const key = await crypto.subtle.importKey(
      "spki",
      spkiCopy,
      { name: "RSA-PSS", hash: info.hash! },
      false,
      ["verify"],
    );
    const saltLength = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 }[info.hash!];
    return await crypto.subtle.verify(
      { name: "RSA-PSS", saltLength },
      key,
      new Uint8Array(signature),
      new Uint8Array(message),
    );
  }
  const key = await crypto.subtle.importKey("spki", spkiCopy, { name: "Ed25519" }, false, [
    "verify",
  ]);
  return await crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    new Uint8Array(signature),
    new Uint8Array(message),
  );
}

export interface ContractExpectation {
  /** The device certificate (PEM or parsed) whose public key must verify every signature. */
  certificatePem: string;
  schemes: readonly number[];
  keyType: SigningKey["keyType"];
}

/** Runs the contract as test steps of `t`. */
export async function signingKeyContract(
  t: Deno.TestContext,
  key: SigningKey,
  expected: ContractExpectation,
): Promise<void> {
  const cert = new x509.X509Certificate(expected.certificatePem);
  const certSpki = new Uint8Array(cert.publicKey.rawData);

  await t.step("describes its key type and schemes", () => {
    assert.deepEqual(key.keyType, expected.keyType);
    assert.deepEqual([...key.schemes], [...expected.schemes]);
    assert.ok(key.description.length > 0);
    assert.doesNotMatch(key.description, /pin-value/);
  });

  await t.step("publishes the certificate's public key", async () => {
    const fromKey = await crypto.subtle.digest("SHA-256", new Uint8Array(key.publicKeySpki));
    const fromCert = await crypto.subtle.digest("SHA-256", certSpki);
    assert.deepEqual(new Uint8Array(fromKey), new Uint8Array(fromCert));
  });

  await t.step("chooses its own preference among the offered schemes", () => {
    assert.equal(key.chooseScheme([]), undefined);
    assert.equal(key.chooseScheme([UNKNOWN_SCHEME]), undefined);
    const reversed = [UNKNOWN_SCHEME, ...[...expected.schemes].reverse()];
    assert.equal(key.chooseScheme(reversed)?.scheme, expected.schemes[0]);
  });

  await t.step(
    "prefers every TLS 1.3 scheme to RSA PKCS#1 v1.5, which it signs for TLS 1.2 only",
    () => {
      const tls13 = expected.schemes.filter((s) => !isTls12Only(s));
      const tls12Only = expected.schemes.filter(isTls12Only);
      assert.ok(tls13.length > 0);
      // TLS 1.3 offers the key only the schemes 1.3 allows: it never picks PKCS#1 v1.5.
      assert.ok(!isTls12Only(key.chooseScheme(tls13)!.scheme));
      // A TLS 1.2 server that accepts both gets PSS; one that accepts only PKCS#1 v1.5 gets it.
      if (tls12Only.length) {
        assert.equal(key.chooseScheme([...tls12Only, ...tls13])?.scheme, tls13[0]);
        assert.equal(key.chooseScheme([S.rsa_pkcs1_sha384])?.scheme, S.rsa_pkcs1_sha384);
      }
    },
  );

  for (const scheme of expected.schemes) {
    await t.step(
      `signs with ${schemeName(scheme)}${
        isTls12Only(scheme) ? " (TLS 1.2 only)" : ""
      } and the certificate key verifies it`,
      async () => {
        const signer = key.chooseScheme([scheme]);
        assert.ok(signer, `no signer for ${schemeName(scheme)}`);
        assert.equal(signer.scheme, scheme);
        const message = crypto.getRandomValues(new Uint8Array(130));
        const signature = await signer.sign(message);
        assert.ok(await webCryptoVerify(certSpki, scheme, message, signature));
        const other = new Uint8Array(message);
        other[0] ^= 1;
        assert.equal(await webCryptoVerify(certSpki, scheme, other, signature), false);
      },
    );
  }

  await t.step("signs concurrent requests correctly", async () => {
    const signer = key.chooseScheme(expected.schemes)!;
    const messages = [1, 2, 3, 4].map((n) => new TextEncoder().encode(`concurrent ${n}`));
    const signatures = await Promise.all(messages.map((m) => signer.sign(m)));
    for (let i = 0; i < messages.length; i++) {
      assert.ok(await webCryptoVerify(certSpki, signer.scheme, messages[i], signatures[i]));
    }
  });
}
