import assert from "node:assert/strict";
import { decodePem, der } from "../../x509/mod.ts";
import { parseSpki } from "../spki.ts";
import { decodeServerPublicKey, encodeServerPublicKey } from "./public_key.ts";

async function spkiOf(algorithm: EcKeyGenParams | RsaHashedKeyGenParams | { name: "Ed25519" }) {
  const pair = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
}

const KEYS = {
  "EC P-256": { name: "ECDSA", namedCurve: "P-256" },
  "EC P-384": { name: "ECDSA", namedCurve: "P-384" },
  "EC P-521": { name: "ECDSA", namedCurve: "P-521" },
  "RSA 2048": {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: Uint8Array.of(1, 0, 1),
    hash: "SHA-256",
  },
  "Ed25519": { name: "Ed25519" },
} as const;

for (const [name, algorithm] of Object.entries(KEYS)) {
  Deno.test(`encodeServerPublicKey() writes the bare key bits of ${name}, decodeServerPublicKey() reads them back`, async () => {
    const spki = await spkiOf(algorithm);
    const pem = encodeServerPublicKey(spki);
    const bits = decodePem(pem)[0].der;
    const [, key] = der.children(der.readOne(spki, der.TAG.SEQUENCE), 2);
    assert.deepEqual(
      bits,
      der.decodeWholeBitString(key),
      "the subjectPublicKey bits, as thin-edge",
    );
    assert.deepEqual(decodeServerPublicKey(pem), spki);
    // A whole SPKI in the block is read as well.
    const whole = `-----BEGIN PUBLIC KEY-----\n${
      btoa(String.fromCharCode(...spki))
    }\n-----END PUBLIC KEY-----\n`;
    assert.equal(parseSpki(decodeServerPublicKey(whole)).canonical, parseSpki(spki).canonical);
  });
}

Deno.test("decodeServerPublicKey() reads thin-edge's CRLF PEM and refuses what is no key", () => {
  const point = new Uint8Array(65).fill(7);
  point[0] = 4;
  const crlf = `-----BEGIN PUBLIC KEY-----\r\n${
    btoa(String.fromCharCode(...point))
  }\r\n-----END PUBLIC KEY-----\r\n`;
  assert.equal(parseSpki(decodeServerPublicKey(crlf)).keyType.kind, "ec");
  assert.throws(() => decodeServerPublicKey("no pem"), /no "PUBLIC KEY" PEM block/);
  assert.throws(
    () => decodeServerPublicKey("-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n"),
    /3 bytes that are no EC point, RSA key or Ed25519 key/,
  );
});

Deno.test("decodeServerPublicKey() reads an Ed25519 key whose first byte is 0x30 (the SEQUENCE tag)", () => {
  const key = new Uint8Array(32).fill(0x5a);
  key[0] = 0x30;
  key[1] = 0x1e; // a plausible DER length: the bytes look like a SEQUENCE
  const pem = `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...key))
  }\n-----END PUBLIC KEY-----\n`;
  const spki = decodeServerPublicKey(pem);
  assert.equal(parseSpki(spki).keyType.kind, "ed25519");
  assert.deepEqual(spki.subarray(spki.length - 32), key);
});
