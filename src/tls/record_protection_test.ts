/**
 * Record protection: RFC 8448 records decrypted and produced byte for byte (AES-128-GCM), and
 * the other two suites cross-checked against node:crypto's AEADs with the RFC 8446 5.3 nonce.
 */

import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { CIPHER_SUITES, cipherSuiteInfo } from "./cipher_suites.ts";
import { concatBytes, toHex } from "./codec.ts";
import { TlsPeerMisbehavedError } from "./errors.ts";
import { EarlySecret, type TrafficKeys } from "./key_schedule.ts";
import { KeyShare } from "./key_share.ts";
import {
  decodeNewSessionTicket,
  decodeServerHello,
  encodeFinished,
  ExtensionType,
  findExtension,
  parseServerKeyShare,
} from "./messages/mod.ts";
import { fixedRandom } from "./random.ts";
import { ContentType } from "./record.ts";
import { RecordDecrypter, RecordEncrypter, writeCiphertextHeader } from "./record_protection.ts";
import { Transcript } from "./transcript.ts";
import { rfc8448 } from "./_rfc8448_vectors.ts";

const aes128 = cipherSuiteInfo(0x1301)!;

async function simpleKeys() {
  const v = rfc8448("Simple_1RTT_Handshake");
  const share = await KeyShare.generate(0x001d, fixedRandom(v.Client_RNG_Pool.subarray(32)));
  const sh = decodeServerHello(v.Message_ServerHello.subarray(4));
  const entry = parseServerKeyShare(findExtension(sh.extensions, ExtensionType.key_share)!);
  const t = new Transcript();
  t.add(v.Record_ClientHello_1.subarray(5));
  t.selectHash("SHA-256");
  t.add(v.Message_ServerHello);
  const hs = EarlySecret.create(aes128).handshakeSecret(
    await share.sharedSecret(entry.keyExchange),
  );
  const hsTraffic = hs.trafficSecrets(t.digest());
  const serverFlight = [
    v.Message_EncryptedExtensions,
    v.Message_Server_Certificate,
    v.Message_Server_CertificateVerify,
    v.Message_Server_Finished,
  ];
  for (const m of serverFlight.slice(0, 3)) t.add(m);
  const beforeFinished = t.digest();
  t.add(v.Message_Server_Finished);
  const ap = hs.masterSecret().applicationTrafficSecrets(t.digest());
  return { v, hsTraffic, ap, serverFlight, t, beforeFinished };
}

const split = (rec: Uint8Array) => [rec.subarray(0, 5), rec.subarray(5)] as const;

Deno.test("RecordDecrypter opens RFC 8448's encrypted server flight, ticket, data and close_notify", async () => {
  const { v, hsTraffic, ap, serverFlight } = await simpleKeys();
  const hsIn = await RecordDecrypter.create(hsTraffic.server);
  const flight = await hsIn.open(...split(v.Record_ServerHandshakeMessages));
  assert.equal(flight.type, ContentType.handshake);
  assert.equal(toHex(flight.content), toHex(concatBytes(...serverFlight)));
  const apIn = await RecordDecrypter.create(ap.server);
  const ticket = await apIn.open(...split(v.Record_NewSessionTicket));
  assert.equal(ticket.type, ContentType.handshake);
  const nst = decodeNewSessionTicket(ticket.content.subarray(4));
  assert.equal(toHex(nst.ticket), toHex(v.SessionTicket));
  const data = await apIn.open(...split(v.Record_Server_AppData));
  assert.deepEqual([data.type, toHex(data.content)], [
    ContentType.application_data,
    toHex(v.Server_AppData),
  ]);
  const close = await apIn.open(...split(v.Record_Server_CloseNotify));
  assert.deepEqual([close.type, toHex(close.content)], [ContentType.alert, "0100"]);
  assert.equal(apIn.sequence, 3);
});

Deno.test("RecordEncrypter produces RFC 8448's client Finished, data and close_notify records", async () => {
  const { v, hsTraffic, ap, t } = await simpleKeys();
  const hsOut = await RecordEncrypter.create(hsTraffic.client);
  const finished = encodeFinished(hsTraffic.client.finishedVerifyData(t.digest()));
  assert.equal(
    toHex(await hsOut.sealRecord(ContentType.handshake, finished)),
    toHex(v.Record_ClientFinished),
  );
  const apOut = await RecordEncrypter.create(ap.client);
  assert.equal(
    toHex(await apOut.sealRecord(ContentType.application_data, v.Client_AppData)),
    toHex(v.Record_Client_AppData),
  );
  assert.equal(
    toHex(await apOut.sealRecord(ContentType.alert, new Uint8Array([1, 0]))),
    toHex(v.Record_Client_CloseNotify),
  );
});

Deno.test("RecordDecrypter refuses a tampered record with bad_record_mac", async () => {
  const { v, hsTraffic } = await simpleKeys();
  for (const at of [0, 3, 5, 100, v.Record_ServerHandshakeMessages.length - 1]) {
    const rec = v.Record_ServerHandshakeMessages.slice();
    rec[at] ^= 1;
    const d = await RecordDecrypter.create(hsTraffic.server);
    await assert.rejects(
      d.open(...split(rec)),
      (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alert === "bad_record_mac",
      `byte ${at}`,
    );
  }
});

Deno.test("RecordDecrypter refuses replayed or reordered records (the sequence number is in the nonce)", async () => {
  const { v, ap } = await simpleKeys();
  const d = await RecordDecrypter.create(ap.server);
  await assert.rejects(d.open(...split(v.Record_Server_AppData)), TlsPeerMisbehavedError);
});

/** Seals an arbitrary inner plaintext (content type and padding chosen by the test). */
async function sealInner(e: RecordEncrypter, inner: Uint8Array): Promise<Uint8Array> {
  const header = new Uint8Array(5);
  writeCiphertextHeader(header, 0, inner.length + 16);
  return concatBytes(header, await e.seal(header, inner));
}

Deno.test("RecordDecrypter strips zero padding, and refuses all-zero and oversized plaintext", async () => {
  const keys: TrafficKeys = { key: new Uint8Array(16).fill(1), iv: new Uint8Array(12).fill(2) };
  const e = await RecordEncrypter.fromKeys(aes128, keys);
  const d = await RecordDecrypter.fromKeys(aes128, keys);
  const padded = await sealInner(e, new Uint8Array([7, 8, ContentType.application_data, 0, 0, 0]));
  const opened = await d.open(...split(padded));
  assert.deepEqual([opened.type, [...opened.content]], [ContentType.application_data, [7, 8]]);
  const zeros = await sealInner(e, new Uint8Array(10));
  await assert.rejects(
    d.open(...split(zeros)),
    (x: unknown) => x instanceof TlsPeerMisbehavedError && x.alert === "unexpected_message",
  );
  const big = new Uint8Array(16384 + 2);
  big[0] = ContentType.application_data;
  const over = await sealInner(e, big);
  await assert.rejects(
    d.open(...split(over)),
    (x: unknown) => x instanceof TlsPeerMisbehavedError && x.alert === "record_overflow",
  );
});

/** An independent AEAD open with node:crypto and the RFC 8446 5.3 nonce. */
function nodeOpen(
  suite: typeof CIPHER_SUITES[number],
  keys: TrafficKeys,
  seq: number,
  record: Uint8Array,
): Uint8Array {
  const nonce = keys.iv.slice();
  for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((BigInt(seq) >> BigInt(8 * i)) & 0xffn);
  const alg = suite.aead === "AES-GCM" ? `aes-${suite.keyLength * 8}-gcm` : "chacha20-poly1305";
  const body = record.subarray(5);
  const d = createDecipheriv(alg, keys.key, nonce, { authTagLength: 16 } as never);
  // deno-lint-ignore no-explicit-any
  (d as any).setAAD(record.subarray(0, 5));
  // deno-lint-ignore no-explicit-any
  (d as any).setAuthTag(body.subarray(body.length - 16));
  const pt = d.update(body.subarray(0, body.length - 16));
  d.final();
  return new Uint8Array(pt);
}

Deno.test("every cipher suite's records open with node:crypto's AEAD and the RFC 8446 nonce", async () => {
  for (const suite of CIPHER_SUITES) {
    const keys: TrafficKeys = {
      key: new Uint8Array(suite.keyLength).map((_, i) => i * 7),
      iv: new Uint8Array(12).map((_, i) => 0xa0 + i),
    };
    const e = await RecordEncrypter.fromKeys(suite, keys);
    const d = await RecordDecrypter.fromKeys(suite, keys);
    for (let seq = 0; seq < 3; seq++) {
      const content = new TextEncoder().encode(`record ${seq} of ${suite.name}`);
      const rec = await e.sealRecord(ContentType.application_data, content);
      assert.equal(
        toHex(nodeOpen(suite, keys, seq, rec)),
        toHex(concatBytes(content, new Uint8Array([23]))),
      );
      const opened = await d.open(...split(rec));
      assert.equal(toHex(opened.content), toHex(content));
    }
  }
});
