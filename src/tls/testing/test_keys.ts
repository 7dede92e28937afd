/**
 * Test-only: tiny WebCrypto-backed SigningKeys (the key providers have their own, fuller ones).
 */

import { ecdsaRawToDer, type SigningKey } from "../../keys/mod.ts";

export type TestKeyKind = "p256" | "p384" | "ed25519" | "rsa2048" | "rsa2048-pkcs1";

const SPEC: Record<TestKeyKind, {
  gen: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  scheme: number;
  sign: EcdsaParams | RsaPssParams | Algorithm;
  keyType: SigningKey["keyType"];
}> = {
  p256: {
    gen: { name: "ECDSA", namedCurve: "P-256" } as EcKeyGenParams,
    scheme: 0x0403,
    sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    keyType: { kind: "ec", curve: "P-256" },
  },
  p384: {
    gen: { name: "ECDSA", namedCurve: "P-384" } as EcKeyGenParams,
    scheme: 0x0503,
    sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
    keyType: { kind: "ec", curve: "P-384" },
  },
  ed25519: {
    gen: { name: "Ed25519" },
    scheme: 0x0807,
    sign: { name: "Ed25519" },
    keyType: { kind: "ed25519" },
  },
  rsa2048: {
    gen: {
      name: "RSA-PSS",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    } as RsaHashedKeyGenParams,
    scheme: 0x0804,
    sign: { name: "RSA-PSS", saltLength: 32 } as RsaPssParams,
    keyType: { kind: "rsa", bits: 2048 },
  },
  /** An RSA key that signs only rsa_pkcs1_sha256 (TLS 1.2 only). */
  "rsa2048-pkcs1": {
    gen: {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    } as RsaHashedKeyGenParams,
    scheme: 0x0401,
    sign: { name: "RSASSA-PKCS1-v1_5" },
    keyType: { kind: "rsa", bits: 2048 },
  },
};

/** A SigningKey over a fresh WebCrypto key; `onSign` sees each message signed. */
export async function testSigningKey(
  kind: TestKeyKind,
  opts: { onSign?: (message: Uint8Array) => void; fail?: Error } = {},
): Promise<SigningKey> {
  const spec = SPEC[kind];
  const keys = await crypto.subtle.generateKey(spec.gen, true, ["sign", "verify"]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const signer = {
    scheme: spec.scheme,
    async sign(message: Uint8Array): Promise<Uint8Array> {
      opts.onSign?.(message);
      if (opts.fail) throw opts.fail;
      const sig = new Uint8Array(
        await crypto.subtle.sign(spec.sign, keys.privateKey, message as BufferSource),
      );
      return spec.gen.name === "ECDSA" ? ecdsaRawToDer(sig) : sig;
    },
  };
  return {
    description: `test ${kind} key`,
    keyType: spec.keyType,
    publicKeySpki: spki,
    schemes: [spec.scheme],
    chooseScheme: (offered) => offered.includes(spec.scheme) ? signer : undefined,
  };
}
