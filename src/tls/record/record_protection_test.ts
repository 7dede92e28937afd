/**
 * Record protection: RFC 8448 records decrypted and produced byte for byte (AES-128-GCM) on both
 * AEAD backends (libcrypto and node:crypto), the AES-GCM suites cross-checked against WebCrypto
 * (an implementation independent of both) and ChaCha20-Poly1305 against a separate node:crypto
 * open, all with the RFC 8446 5.3 nonce. Tests that name no backend use the default one.
 */

import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { CIPHER_SUITES, cipherSuiteInfo } from "../cipher_suites.ts";
import { concatBytes, toHex } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import { EarlySecret, type TrafficKeys } from "../key_schedule.ts";
import { loadAeadBackend } from "./aead_backend.ts";
import { KeyShare } from "../handshake/mod.ts";
import {
  decodeNewSessionTicket,
  decodeServerHello,
  encodeFinished,
  ExtensionType,
  findExtension,
  parseServerKeyShare,
} from "../messages/mod.ts";
import { fixedRandom } from "../testing/mod.ts";
import { ContentType } from "./record.ts";
import {
  RecordDecrypter,
  RecordEncrypter,
  WEBCRYPTO_FROM,
  writeCiphertextHeader,
} from "./record_protection.ts";
import { Transcript } from "../handshake/mod.ts";
import { rfc8448 } from "../testing/mod.ts";

const aes128 = cipherSuiteInfo(0x1301)!;

/** Both backends, whatever the default is here. */
const BACKENDS = [loadAeadBackend(), loadAeadBackend({ disabled: true })];

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

for (const backend of BACKENDS) {
  Deno.test(`RecordDecrypter opens RFC 8448's encrypted server flight, ticket, data and close_notify (${backend.name})`, async () => {
    const { v, hsTraffic, ap, serverFlight } = await simpleKeys();
    const hsIn = RecordDecrypter.create(hsTraffic.server, backend);
    const flight = hsIn.open(...split(v.Record_ServerHandshakeMessages));
    assert.equal(flight.type, ContentType.handshake);
    assert.equal(toHex(flight.content), toHex(concatBytes(...serverFlight)));
    const apIn = RecordDecrypter.create(ap.server, backend);
    const ticket = apIn.open(...split(v.Record_NewSessionTicket));
    assert.equal(ticket.type, ContentType.handshake);
    const nst = decodeNewSessionTicket(ticket.content.subarray(4));
    assert.equal(toHex(nst.ticket), toHex(v.SessionTicket));
    const data = apIn.open(...split(v.Record_Server_AppData));
    assert.deepEqual([data.type, toHex(data.content)], [
      ContentType.application_data,
      toHex(v.Server_AppData),
    ]);
    const close = apIn.open(...split(v.Record_Server_CloseNotify));
    assert.deepEqual([close.type, toHex(close.content)], [ContentType.alert, "0100"]);
    assert.equal(apIn.sequence, 3);
    assert.equal(apIn.backend, backend.name);
  });

  Deno.test(`RecordEncrypter produces RFC 8448's client Finished, data and close_notify records (${backend.name})`, async () => {
    const { v, hsTraffic, ap, t } = await simpleKeys();
    const hsOut = RecordEncrypter.create(hsTraffic.client, backend);
    const finished = encodeFinished(hsTraffic.client.finishedVerifyData(t.digest()));
    assert.equal(
      toHex(hsOut.sealRecord(ContentType.handshake, finished)),
      toHex(v.Record_ClientFinished),
    );
    const apOut = RecordEncrypter.create(ap.client, backend);
    assert.equal(
      toHex(apOut.sealRecord(ContentType.application_data, v.Client_AppData)),
      toHex(v.Record_Client_AppData),
    );
    assert.equal(
      toHex(apOut.sealRecord(ContentType.alert, new Uint8Array([1, 0]))),
      toHex(v.Record_Client_CloseNotify),
    );
  });

  Deno.test(`RecordDecrypter refuses a tampered record with bad_record_mac (${backend.name})`, async () => {
    const { v, hsTraffic } = await simpleKeys();
    for (const at of [0, 3, 5, 100, v.Record_ServerHandshakeMessages.length - 1]) {
      const rec = v.Record_ServerHandshakeMessages.slice();
      rec[at] ^= 1;
      const d = RecordDecrypter.create(hsTraffic.server, backend);
      assert.throws(
        () => d.open(...split(rec)),
        (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "bad_record_mac",
        `byte ${at}`,
      );
    }
  });
}

Deno.test("RecordDecrypter refuses replayed or reordered records (the sequence number is in the nonce)", async () => {
  const { v, ap } = await simpleKeys();
  const d = RecordDecrypter.create(ap.server);
  assert.throws(() => d.open(...split(v.Record_Server_AppData)), TlsPeerMisbehavedError);
});

/** Seals an arbitrary inner plaintext (content type and padding chosen by the test). */
function sealInner(e: RecordEncrypter, inner: Uint8Array): Uint8Array {
  const header = new Uint8Array(5);
  writeCiphertextHeader(header, 0, inner.length + 16);
  return concatBytes(header, e.seal(header, inner));
}

Deno.test("RecordDecrypter strips zero padding, and refuses all-zero and oversized plaintext", () => {
  const keys: TrafficKeys = { key: new Uint8Array(16).fill(1), iv: new Uint8Array(12).fill(2) };
  const e = RecordEncrypter.fromKeys(aes128, keys);
  const d = RecordDecrypter.fromKeys(aes128, keys);
  const padded = sealInner(e, new Uint8Array([7, 8, ContentType.application_data, 0, 0, 0]));
  const opened = d.open(...split(padded));
  assert.deepEqual([opened.type, [...opened.content]], [ContentType.application_data, [7, 8]]);
  const zeros = sealInner(e, new Uint8Array(10));
  assert.throws(
    () => d.open(...split(zeros)),
    (x: unknown) => x instanceof TlsPeerMisbehavedError && x.alertToSend === "unexpected_message",
  );
  const big = new Uint8Array(16384 + 2);
  big[0] = ContentType.application_data;
  const over = sealInner(e, big);
  assert.throws(
    () => d.open(...split(over)),
    (x: unknown) => x instanceof TlsPeerMisbehavedError && x.alertToSend === "record_overflow",
  );
});

/** The RFC 8446 5.3 nonce for `seq`, computed independently of record_protection.ts. */
function nonceFor(iv: Uint8Array, seq: number): Uint8Array {
  const nonce = iv.slice();
  for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((BigInt(seq) >> BigInt(8 * i)) & 0xffn);
  return nonce;
}

/** A ChaCha20-Poly1305 open with node:crypto, written apart from the code under test. */
function nodeOpen(keys: TrafficKeys, seq: number, record: Uint8Array): Uint8Array {
  const body = record.subarray(5);
  const d = createDecipheriv("chacha20-poly1305", keys.key, nonceFor(keys.iv, seq), {
    authTagLength: 16,
  });
  d.setAAD(record.subarray(0, 5), { plaintextLength: body.length - 16 });
  d.setAuthTag(body.subarray(body.length - 16));
  const pt = d.update(body.subarray(0, body.length - 16));
  d.final();
  return new Uint8Array(pt);
}

/** WebCrypto's AES-GCM: an implementation independent of node:crypto's. */
async function webAesGcm(
  op: "encrypt" | "decrypt",
  keys: TrafficKeys,
  seq: number,
  header: Uint8Array,
  data: Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", keys.key as BufferSource, "AES-GCM", false, [
    op,
  ]);
  const params = {
    name: "AES-GCM",
    iv: nonceFor(keys.iv, seq) as BufferSource,
    additionalData: header as BufferSource,
  };
  return new Uint8Array(await crypto.subtle[op](params, key, data as BufferSource));
}

const testKeys = (suite: typeof CIPHER_SUITES[number]): TrafficKeys => ({
  key: new Uint8Array(suite.keyLength).map((_, i) => i * 7),
  iv: new Uint8Array(12).map((_, i) => 0xa0 + i),
});

Deno.test("AES-GCM records agree with WebCrypto both ways, for every size up to 2^14", async () => {
  const sizes = [0, 1, 15, 16, 17, 100, 1023, 4096, 16384];
  for (const suite of CIPHER_SUITES.filter((s) => s.aead === "AES-GCM")) {
    const keys = testKeys(suite);
    const e = RecordEncrypter.fromKeys(suite, keys);
    const d = RecordDecrypter.fromKeys(suite, keys);
    for (const [seq, size] of sizes.entries()) {
      const content = new Uint8Array(size).map((_, i) => (i * 31 + seq) & 0xff);
      const inner = concatBytes(content, new Uint8Array([ContentType.application_data]));
      // Ours sealed, WebCrypto opens.
      const rec = e.sealRecord(ContentType.application_data, content);
      const [header, body] = split(rec);
      assert.equal(
        toHex(await webAesGcm("decrypt", keys, seq, header, body)),
        toHex(inner),
        `${suite.name} ${size} B`,
      );
      // WebCrypto sealed, ours opens: byte-identical records.
      const web = await webAesGcm("encrypt", keys, seq, header, inner);
      assert.equal(toHex(web), toHex(body), `${suite.name} ${size} B`);
      const opened = d.open(header, web);
      assert.equal(toHex(opened.content), toHex(content));
    }
    assert.equal(e.sequence, sizes.length);
  }
});

Deno.test("RecordEncrypter.sealInPlace() protects records packed side by side in one buffer", async () => {
  const suite = aes128;
  const keys = testKeys(suite);
  const e = RecordEncrypter.fromKeys(suite, keys);
  const contents = [new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(9), new Uint8Array([4])];
  const buf = new Uint8Array(contents.reduce((n, c) => n + 5 + c.length + 1 + 16, 0));
  let at = 0;
  for (const c of contents) {
    writeCiphertextHeader(buf, at, c.length + 1 + 16);
    buf.set(c, at + 5);
    buf[at + 5 + c.length] = ContentType.application_data;
    e.sealInPlace(buf, at, c.length + 1);
    at += 5 + c.length + 1 + 16;
  }
  at = 0;
  for (const [seq, c] of contents.entries()) {
    const rec = buf.subarray(at, at + 5 + c.length + 1 + 16);
    const inner = await webAesGcm("decrypt", keys, seq, rec.subarray(0, 5), rec.subarray(5));
    assert.equal(toHex(inner), toHex(concatBytes(c, new Uint8Array([23]))));
    at += rec.length;
  }
});

for (const backend of BACKENDS) {
  Deno.test(`RecordEncrypter.sealBulk() gives the same records whichever AES-GCM seals them (${backend.name})`, async () => {
    // On node:crypto, large AES-GCM records go to WebCrypto, small ones and ChaCha20 stay there;
    // libcrypto seals all at once. The records must be byte for byte those of sealRecord() under
    // the same keys and numbers.
    const sizes = [100, WEBCRYPTO_FROM - 1, WEBCRYPTO_FROM, 16384 + 1, 3, 16384 + 1];
    const webCrypto = backend.name === "node:crypto";
    for (const suite of CIPHER_SUITES) {
      const keys = testKeys(suite);
      const bulk = RecordEncrypter.fromKeys(suite, keys, backend);
      const reference = RecordEncrypter.fromKeys(suite, keys, backend);
      const buf = new Uint8Array(sizes.reduce((n, size) => n + 5 + size + 16, 0));
      const sealing: Promise<void>[] = [];
      let at = 0;
      const expected: Uint8Array[] = [];
      for (const [i, size] of sizes.entries()) {
        const content = new Uint8Array(size - 1).fill(i + 1);
        expected.push(reference.sealRecord(ContentType.application_data, content));
        writeCiphertextHeader(buf, at, size + 16);
        buf.set(content, at + 5);
        buf[at + 5 + content.length] = ContentType.application_data;
        const p = bulk.sealBulk(buf, at, size);
        assert.equal(
          p !== undefined,
          webCrypto && suite.aead === "AES-GCM" && size >= WEBCRYPTO_FROM,
        );
        if (p) sealing.push(p);
        at += 5 + size + 16;
      }
      await Promise.all(sealing);
      assert.equal(toHex(buf), toHex(concatBytes(...expected)), suite.name);
    }
  });
}

Deno.test("every cipher suite's records open with an independent AEAD and the RFC 8446 nonce", async () => {
  for (const suite of CIPHER_SUITES) {
    const keys = testKeys(suite);
    const e = RecordEncrypter.fromKeys(suite, keys);
    const d = RecordDecrypter.fromKeys(suite, keys);
    for (let seq = 0; seq < 3; seq++) {
      const content = new TextEncoder().encode(`record ${seq} of ${suite.name}`);
      const rec = e.sealRecord(ContentType.application_data, content);
      const inner = suite.aead === "AES-GCM"
        ? await webAesGcm("decrypt", keys, seq, ...split(rec))
        : nodeOpen(keys, seq, rec);
      assert.equal(toHex(inner), toHex(concatBytes(content, new Uint8Array([23]))));
      const opened = d.open(...split(rec));
      assert.equal(toHex(opened.content), toHex(content));
    }
  }
});
