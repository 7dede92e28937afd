/**
 * Key schedule against RFC 8448 section 3 (Simple 1-RTT Handshake): every intermediate secret
 * the RFC prints, derived from the client's X25519 key (drawn from Client_RNG_Pool) and the
 * server's share in its ServerHello.
 */

import assert from "node:assert/strict";
import { cipherSuiteInfo } from "./cipher_suites.ts";
import { fromHex, toHex } from "./codec.ts";
import {
  EarlySecret,
  exposeSecretForTesting,
  hkdfExpandLabel,
  hkdfExtract,
} from "./key_schedule.ts";
import { KeyShare } from "./handshake/mod.ts";
import { fixedRandom } from "./testing/mod.ts";
import { Transcript } from "./handshake/mod.ts";
import { rfc8448 } from "./testing/mod.ts";
import {
  decodeServerHello,
  ExtensionType,
  findExtension,
  parseServerKeyShare,
} from "./messages/mod.ts";

const suite = cipherSuiteInfo(0x1301)!;
const hex = (s: TemplateStringsArray) => s[0].replace(/\s+/g, "");

// RFC 8448 section 3, values as printed there.
const RFC = {
  sharedSecret: hex`8b d4 05 4f b5 5b 9d 63 fd fb ac f9 f0 4b 9f 0d 35 e6 d6 3f 53 75 63 ef
    d4 62 72 90 0f 89 49 2d`,
  earlySecret: hex`33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60
    e1 b2 2e 10 f1 70 f9 2a`,
  derived: hex`6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb
    ea c3 57 6c 36 11 ba`,
  handshakeSecret: hex`1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e
    d2 21 a9 f0 ca 04 3f be ac`,
  clientHs: hex`b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00
    74 6a 0e 27 a5 5a 21`,
  serverHs: hex`b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42
    be fd 59 d3 91 ad 38`,
  master: hex`18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 80 01 bc 4d 4c 62 79 84 d5 a4
    1d a8 d0 40 29 19`,
  clientAp: hex`9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7
    92 eb b7 c1 75 04 a5`,
  serverAp: hex`a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b
    4f 1f 3f cb 63 16 43`,
  serverHsKey: hex`3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc`,
  serverHsIv: hex`5d 31 3e b2 67 12 76 ee 13 00 0b 30`,
  clientHsKey: hex`db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01`,
  clientHsIv: hex`5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f`,
  serverApKey: hex`9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56`,
  serverApIv: hex`cf 78 2b 88 dd 83 54 9a ad f1 e9 84`,
  clientApKey: hex`17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51`,
  clientApIv: hex`5b 78 92 3d ee 08 57 90 33 e5 23 d9`,
};

async function simpleTrace() {
  const v = rfc8448("Simple_1RTT_Handshake");
  // Client_RNG_Pool: 32 bytes of ClientHello.random, then the X25519 private key.
  const share = await KeyShare.generate(0x001d, fixedRandom(v.Client_RNG_Pool.subarray(32)));
  const sh = decodeServerHello(v.Message_ServerHello.subarray(4));
  const entry = parseServerKeyShare(findExtension(sh.extensions, ExtensionType.key_share)!);
  const shared = await share.sharedSecret(entry.keyExchange);
  const t = new Transcript();
  t.add(v.Record_ClientHello_1.subarray(5));
  t.selectHash("SHA-256");
  t.add(v.Message_ServerHello);
  return { v, share, shared, t };
}

Deno.test("KeyShare.generate() gives the client's X25519 public key of RFC 8448", async () => {
  const { v, share } = await simpleTrace();
  const ch = v.Record_ClientHello_1;
  // The key_share entry's key_exchange sits right after "00 1d 00 20" in the ClientHello.
  const at = toHex(ch).indexOf("001d0020" + toHex(share.publicKey));
  assert.ok(at > 0, "the derived public key appears in the ClientHello's key_share");
});

Deno.test("key schedule reproduces every RFC 8448 simple-handshake secret", async () => {
  const { v, shared, t } = await simpleTrace();
  assert.equal(toHex(shared), RFC.sharedSecret);
  const early = EarlySecret.create(suite);
  assert.equal(toHex(exposeSecretForTesting(early)), RFC.earlySecret);
  const hs = early.handshakeSecret(shared);
  assert.equal(toHex(exposeSecretForTesting(hs)), RFC.handshakeSecret);
  const hsTraffic = hs.trafficSecrets(t.digest());
  assert.equal(toHex(exposeSecretForTesting(hsTraffic.client)), RFC.clientHs);
  assert.equal(toHex(exposeSecretForTesting(hsTraffic.server)), RFC.serverHs);
  assert.deepEqual(
    [toHex(hsTraffic.server.trafficKeys().key), toHex(hsTraffic.server.trafficKeys().iv)],
    [RFC.serverHsKey, RFC.serverHsIv],
  );
  assert.deepEqual(
    [toHex(hsTraffic.client.trafficKeys().key), toHex(hsTraffic.client.trafficKeys().iv)],
    [RFC.clientHsKey, RFC.clientHsIv],
  );
  const master = hs.masterSecret();
  assert.equal(toHex(exposeSecretForTesting(master)), RFC.master);
  for (
    const m of [
      v.Message_EncryptedExtensions,
      v.Message_Server_Certificate,
      v.Message_Server_CertificateVerify,
      v.Message_Server_Finished,
    ]
  ) t.add(m);
  const ap = master.applicationTrafficSecrets(t.digest());
  assert.equal(toHex(exposeSecretForTesting(ap.client)), RFC.clientAp);
  assert.equal(toHex(exposeSecretForTesting(ap.server)), RFC.serverAp);
  assert.deepEqual(
    [toHex(ap.server.trafficKeys().key), toHex(ap.server.trafficKeys().iv)],
    [RFC.serverApKey, RFC.serverApIv],
  );
  assert.deepEqual(
    [toHex(ap.client.trafficKeys().key), toHex(ap.client.trafficKeys().iv)],
    [RFC.clientApKey, RFC.clientApIv],
  );
});

Deno.test("HandshakeTrafficSecret.finishedVerifyData() equals the server Finished of RFC 8448", async () => {
  const { v, shared, t } = await simpleTrace();
  const hs = EarlySecret.create(suite).handshakeSecret(shared);
  const { server } = hs.trafficSecrets(t.digest());
  for (
    const m of [
      v.Message_EncryptedExtensions,
      v.Message_Server_Certificate,
      v.Message_Server_CertificateVerify,
    ]
  ) t.add(m);
  assert.equal(
    toHex(server.finishedVerifyData(t.digest())),
    toHex(v.Message_Server_Finished.subarray(4)),
  );
});

Deno.test("hkdfExtract() and hkdfExpandLabel() derive the 'derived' salt of RFC 8448", () => {
  const zeros = new Uint8Array(32);
  const early = hkdfExtract("SHA-256", zeros, zeros);
  assert.equal(toHex(early), RFC.earlySecret);
  const emptyHash = fromHex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(toHex(hkdfExpandLabel("SHA-256", early, "derived", emptyHash, 32)), RFC.derived);
});

Deno.test("ApplicationTrafficSecret.next() is HKDF-Expand-Label(secret, 'traffic upd', '', 32)", async () => {
  const { v, shared, t } = await simpleTrace();
  const master = EarlySecret.create(suite).handshakeSecret(shared).masterSecret();
  for (
    const m of [
      v.Message_EncryptedExtensions,
      v.Message_Server_Certificate,
      v.Message_Server_CertificateVerify,
      v.Message_Server_Finished,
    ]
  ) t.add(m);
  const { client } = master.applicationTrafficSecrets(t.digest());
  const expected = hkdfExpandLabel(
    "SHA-256",
    fromHex(RFC.clientAp),
    "traffic upd",
    new Uint8Array(0),
    32,
  );
  assert.equal(toHex(exposeSecretForTesting(client.next())), toHex(expected));
});

Deno.test("schedule secrets never print their bytes", () => {
  const early = EarlySecret.create(suite);
  assert.equal(Deno.inspect(early), "[EarlySecret]");
  assert.equal(String(early), "[EarlySecret]");
  assert.ok(!JSON.stringify(early).includes(RFC.earlySecret.slice(0, 8)));
});
