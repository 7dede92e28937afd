/**
 * Known answers for the TLS 1.2 key derivation (prf.ts). Where each comes from:
 *
 * - PRF SHA-256 and SHA-384: the widely used TLS 1.2 PRF test vectors posted to the IETF TLS
 *   list (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html), also reproduced by
 *   `openssl kdf -keylen 100 -kdfopt digest:SHA256 -kdfopt hexsecret:... -kdfopt seed:"test
 *   label" -kdfopt hexseed:... TLS1-PRF` (OpenSSL 3.0.19).
 * - Extended master secret, key expansion and Finished: computed with OpenSSL 3.0.19's TLS1-PRF
 *   KDF as an independent implementation, from random inputs fixed here:
 *   `openssl kdf -keylen 48 -kdfopt digest:SHA256 -kdfopt hexsecret:<pms> -kdfopt seed:"extended
 *   master secret" -kdfopt hexseed:<session hash> TLS1-PRF` (likewise "key expansion" with the
 *   server random then the client random, "client finished", "server finished"). That the
 *   session hash covers the right messages is checked against OpenSSL's own master secret in
 *   tests/tls12_openssl_test.ts (s_server -keylogfile).
 */

import assert from "node:assert/strict";
import { cipherSuiteInfo } from "./cipher_suites.ts";
import { fromHex, toHex } from "./codec.ts";
import {
  extendedMasterSecret,
  finishedVerifyData,
  keyBlock,
  prf,
  Tls12MasterSecret,
} from "./prf.ts";

Deno.test("prf() gives the published TLS 1.2 PRF SHA-256 test vector", () => {
  const out = prf(
    "SHA-256",
    fromHex("9bbe436ba940f017b17652849a71db35"),
    "test label",
    fromHex("a0ba9f936cda311827a6f796ffd5198c"),
    100,
  );
  assert.equal(
    toHex(out),
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a" +
      "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab" +
      "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701" +
      "87347b66",
  );
});

Deno.test("prf() gives the published TLS 1.2 PRF SHA-384 test vector", () => {
  const out = prf(
    "SHA-384",
    fromHex("b80b733d6ceefcdc71566ea48e5567df"),
    "test label",
    fromHex("cd665cf6a8447dd6ff8b27555edb7465"),
    148,
  );
  assert.equal(
    toHex(out),
    "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd" +
      "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd" +
      "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425" +
      "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6" +
      "91c8f3a26854308d5eaa3be85e0990703d73e56f",
  );
});

Deno.test("prf() gives any length, block boundaries included, and refuses absurd ones", () => {
  const secret = fromHex("9bbe436ba940f017b17652849a71db35");
  const seed = fromHex("a0ba9f936cda311827a6f796ffd5198c");
  const long = prf("SHA-256", secret, "test label", seed, 100);
  for (const n of [0, 1, 31, 32, 33, 64, 99]) {
    assert.deepEqual(prf("SHA-256", secret, "test label", seed, n), long.subarray(0, n));
  }
  assert.throws(() => prf("SHA-256", secret, "x", seed, -1), RangeError);
  assert.throws(() => prf("SHA-256", secret, "x", seed, 1.5), RangeError);
});

const PMS = fromHex("25e5b6f3418f433b0c4dde6989043da5c43eb7e04d91077704fd8eabf5805c03");
const MASTER = "e95d9f5be47fa5690ad0838461d1e92298b46c1f724a5fdf61fc44ea5c761da0" +
  "8de7b56c38dc931c639aa7a1b7ad4b7e";
const CLIENT_RANDOM = fromHex("4c243c1625718d4186afea91aa66c7b12963d2fbd0e17fb6b03df8d502275a17");
const SERVER_RANDOM = fromHex("35b46ac0187bea688bf155823f9f792bbc01e7040f65093caa2418e276e890cd");
const HANDSHAKE_HASH = fromHex(
  "a99485fb7c70b3ed4247adfbbfc9ff8ff5e79f3aa3276e3c756402f678f36ed5",
);

Deno.test("extendedMasterSecret() matches OpenSSL's TLS1-PRF for SHA-256 and SHA-384 (RFC 7627 4)", () => {
  const sessionHash = fromHex("5b8944e6e14de372da67303729b2ade82da4ccc98753abd5e50f3016eb2872a5");
  assert.equal(toHex(extendedMasterSecret("SHA-256", PMS, sessionHash)), MASTER);
  const sessionHash384 = fromHex(
    "fc3daa568f0631c9eb43d042211fbf57d6beb07fb850f65f7b41afa3ae284dbb" +
      "9e99291d499b6f0c6c7d0bdf5ddc0a38",
  );
  assert.equal(
    toHex(extendedMasterSecret("SHA-384", PMS, sessionHash384)),
    "574c399e87e95c213f70948a5eef7dff164aea5a138755e263dab3a90e3dd6a0" +
      "8942096bbceaf9d95485a813292c7a4b",
  );
});

Deno.test("keyBlock() and finishedVerifyData() match OpenSSL's TLS1-PRF (RFC 5246 6.3, 7.4.9)", () => {
  const ms = fromHex(MASTER);
  assert.equal(
    toHex(keyBlock("SHA-256", ms, CLIENT_RANDOM, SERVER_RANDOM, 40)),
    "3e9628ad8c15ff8fde331c5d537bfd7f00e18ea5cf0fc73dc1f5b482349645d75ec912d7dae80e48",
  );
  assert.equal(
    toHex(finishedVerifyData("SHA-256", ms, "client finished", HANDSHAKE_HASH)),
    "488d6399fa25bf62f093edff",
  );
  assert.equal(
    toHex(finishedVerifyData("SHA-256", ms, "server finished", HANDSHAKE_HASH)),
    "6c8b63980e40a4649a61f8ff",
  );
});

Deno.test("Tls12MasterSecret splits the key block as RFC 5246 6.3 lays it out", () => {
  const sessionHash = fromHex("5b8944e6e14de372da67303729b2ade82da4ccc98753abd5e50f3016eb2872a5");
  // AES-128-GCM: 16-byte keys, 4-byte salts (RFC 5288 3).
  const gcm = Tls12MasterSecret.extended(cipherSuiteInfo(0xc02b)!, PMS, sessionHash);
  const k = gcm.trafficKeys(CLIENT_RANDOM, SERVER_RANDOM);
  const block = "3e9628ad8c15ff8fde331c5d537bfd7f00e18ea5cf0fc73dc1f5b482349645d75ec912d7dae80e48";
  assert.equal(toHex(k.client.key), block.slice(0, 32));
  assert.equal(toHex(k.server.key), block.slice(32, 64));
  assert.equal(toHex(k.client.fixedIv), block.slice(64, 72));
  assert.equal(toHex(k.server.fixedIv), block.slice(72, 80));
  assert.equal(toHex(gcm.clientFinished(HANDSHAKE_HASH)), "488d6399fa25bf62f093edff");
  assert.equal(toHex(gcm.serverFinished(HANDSHAKE_HASH)), "6c8b63980e40a4649a61f8ff");
  // ChaCha20-Poly1305: 32-byte keys, 12-byte IVs (RFC 7905 2): an 88-byte block.
  const chacha = Tls12MasterSecret.extended(cipherSuiteInfo(0xcca9)!, PMS, sessionHash);
  const c = chacha.trafficKeys(CLIENT_RANDOM, SERVER_RANDOM);
  const block88 = "3e9628ad8c15ff8fde331c5d537bfd7f00e18ea5cf0fc73dc1f5b482349645d7" +
    "5ec912d7dae80e485540a7393d24f93b18e16dcaf30fc1057b4b2aab3d581022" +
    "174775cd8e145e76e201d9092b20836abaf72b3bf2e707d5";
  assert.equal(toHex(c.client.key), block88.slice(0, 64));
  assert.equal(toHex(c.server.key), block88.slice(64, 128));
  assert.equal(toHex(c.client.fixedIv), block88.slice(128, 152));
  assert.equal(toHex(c.server.fixedIv), block88.slice(152, 176));
  assert.equal(gcm.keyLogLine(CLIENT_RANDOM), `CLIENT_RANDOM ${toHex(CLIENT_RANDOM)} ${MASTER}`);
  assert.equal(String(gcm), "[Tls12MasterSecret]");
  assert.doesNotMatch(Deno.inspect(gcm), /e95d9f/);
  assert.throws(() => Tls12MasterSecret.extended(cipherSuiteInfo(0x1301)!, PMS, sessionHash));
});
