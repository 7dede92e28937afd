/**
 * TLS 1.2 record protection against independent AEADs: AES-GCM records (RFC 5288) opened and
 * produced by WebCrypto, ChaCha20-Poly1305 records (RFC 7905) opened by a separate node:crypto
 * call, each with the nonce and additional data of RFC 5246 6.2.3.3 written out here by hand;
 * on both backends.
 */

import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { cipherSuiteInfo, TLS12_CIPHER_SUITES } from "../cipher_suites.ts";
import { concatBytes, toHex } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import type { Tls12TrafficKeys } from "../prf.ts";
import { loadAeadBackend } from "./aead_backend.ts";
import { ContentType } from "./record.ts";
import { Tls12RecordDecrypter, Tls12RecordEncrypter } from "./record_protection12.ts";

const BACKENDS = [loadAeadBackend(), loadAeadBackend({ disabled: true })];
const gcm128 = cipherSuiteInfo(0xc02b)!;
const gcm256 = cipherSuiteInfo(0xc030)!;
const chacha = cipherSuiteInfo(0xcca8)!;

function keysFor(suite: typeof gcm128): Tls12TrafficKeys {
  return {
    key: new Uint8Array(suite.keyLength).map((_, i) => 3 * i + 1),
    fixedIv: new Uint8Array(suite.aead === "AES-GCM" ? 4 : 12).map((_, i) => 0xf0 - i),
  };
}

/** seq_num || type || 0x0303 || length (RFC 5246 6.2.3.3), written out independently. */
function aad(seq: number, type: number, length: number): Uint8Array {
  return new Uint8Array([0, 0, 0, 0, 0, 0, 0, seq, type, 3, 3, length >> 8, length & 0xff]);
}

async function webGcm(
  op: "encrypt" | "decrypt",
  keys: Tls12TrafficKeys,
  explicit: Uint8Array,
  ad: Uint8Array,
  data: Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", keys.key as BufferSource, "AES-GCM", false, [
    op,
  ]);
  const iv = concatBytes(keys.fixedIv, explicit);
  return new Uint8Array(
    await crypto.subtle[op](
      { name: "AES-GCM", iv: iv as BufferSource, additionalData: ad as BufferSource },
      key,
      data as BufferSource,
    ),
  );
}

/** RFC 7905 2: nonce = IV XOR the sequence number, left-padded to 12 bytes. */
function chachaNonce(iv: Uint8Array, seq: number): Uint8Array {
  const n = iv.slice();
  n[11] ^= seq;
  return n;
}

const seqBytes = (seq: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, seq]);

for (const backend of BACKENDS) {
  Deno.test(`TLS 1.2 AES-GCM records carry the sequence number as explicit nonce and agree with WebCrypto both ways (${backend.name})`, async () => {
    for (const suite of [gcm128, gcm256]) {
      const keys = keysFor(suite);
      const e = Tls12RecordEncrypter.create(suite, keysFor(suite), backend);
      const d = Tls12RecordDecrypter.create(suite, keysFor(suite), backend);
      for (const [seq, size] of [0, 1, 100, 16384].entries()) {
        const type = seq === 0 ? ContentType.handshake : ContentType.application_data;
        const content = new Uint8Array(size).map((_, i) => (i * 7 + seq) & 0xff);
        const rec = e.sealRecord(type, content);
        assert.deepEqual([...rec.subarray(0, 5)], [
          type,
          3,
          3,
          (size + 24) >> 8,
          (size + 24) & 0xff,
        ]);
        assert.equal(toHex(rec.subarray(5, 13)), toHex(seqBytes(seq)), "explicit nonce");
        const opened = await webGcm(
          "decrypt",
          keys,
          seqBytes(seq),
          aad(seq, type, size),
          rec.subarray(13),
        );
        assert.equal(toHex(opened), toHex(content), `${suite.name} ${size} B`);
        // The server picks its own explicit nonce: any 8 bytes.
        const explicit = crypto.getRandomValues(new Uint8Array(8));
        const sealed = await webGcm("encrypt", keys, explicit, aad(seq, type, size), content);
        const body = concatBytes(explicit, sealed);
        const header = new Uint8Array([type, 3, 3, body.length >> 8, body.length & 0xff]);
        const got = d.open(header, body);
        assert.equal(got.type, type);
        assert.equal(toHex(got.content), toHex(content));
      }
      assert.equal(e.sequence, 4);
      assert.equal(e.backend, backend.name);
    }
  });

  Deno.test(`TLS 1.2 ChaCha20-Poly1305 records use IV XOR sequence and no explicit nonce (${backend.name})`, () => {
    const keys = keysFor(chacha);
    const e = Tls12RecordEncrypter.create(chacha, keysFor(chacha), backend);
    const d = Tls12RecordDecrypter.create(chacha, keysFor(chacha), backend);
    for (let seq = 0; seq < 3; seq++) {
      const content = new TextEncoder().encode(`record ${seq}`);
      const rec = e.sealRecord(ContentType.application_data, content);
      assert.equal(rec.length, 5 + content.length + 16);
      const body = rec.subarray(5);
      const dec = createDecipheriv("chacha20-poly1305", keys.key, chachaNonce(keys.fixedIv, seq), {
        authTagLength: 16,
      });
      dec.setAAD(aad(seq, 23, content.length), { plaintextLength: content.length });
      dec.setAuthTag(body.subarray(content.length));
      const plain = concatBytes(dec.update(body.subarray(0, content.length)), dec.final());
      assert.equal(toHex(plain), toHex(content));
      // And the other way: a record sealed by node:crypto opens.
      const enc = createCipheriv("chacha20-poly1305", keys.key, chachaNonce(keys.fixedIv, seq), {
        authTagLength: 16,
      });
      enc.setAAD(aad(seq, 21, 2), { plaintextLength: 2 });
      const ct = concatBytes(enc.update(new Uint8Array([1, 0])), enc.final(), enc.getAuthTag());
      const got = d.open(new Uint8Array([21, 3, 3, 0, ct.length]), ct);
      assert.deepEqual([got.type, [...got.content]], [ContentType.alert, [1, 0]]);
    }
  });
}

Deno.test("TLS 1.2 sealApplicationData() in place gives the records sealRecord() gives", () => {
  for (const suite of TLS12_CIPHER_SUITES) {
    const a = Tls12RecordEncrypter.create(suite, keysFor(suite));
    const b = Tls12RecordEncrypter.create(suite, keysFor(suite));
    const contents = [new Uint8Array([1, 2, 3]), new Uint8Array(500).fill(9)];
    const buf = new Uint8Array(contents.reduce((n, c) => n + c.length + a.recordOverhead, 0));
    let at = 0;
    for (const c of contents) {
      buf.set(c, at + a.contentOffset);
      assert.equal(a.sealApplicationData(buf, at, c.length), undefined);
      at += c.length + a.recordOverhead;
    }
    const expected = concatBytes(...contents.map((c) => b.sealRecord(23, c)));
    assert.equal(toHex(buf), toHex(expected), suite.name);
  }
});

Deno.test("TLS 1.2 records that are tampered with, too short or too long are refused", async () => {
  const keys = keysFor(gcm128);
  const good = Tls12RecordEncrypter.create(gcm128, keysFor(gcm128))
    .sealRecord(ContentType.application_data, new Uint8Array(40).fill(5));
  const refused = (alert: string) => (e: unknown) =>
    e instanceof TlsPeerMisbehavedError && e.alertToSend === alert;
  // Any byte changed, the header's type and version included (they are additional data).
  for (const at of [0, 2, 5, 12, 13, good.length - 1]) {
    const rec = good.slice();
    rec[at] ^= 1;
    const d = Tls12RecordDecrypter.create(gcm128, keysFor(gcm128));
    assert.throws(() => d.open(rec.subarray(0, 5), rec.subarray(5)), refused("bad_record_mac"));
  }
  // Shorter than explicit nonce + tag.
  const d = Tls12RecordDecrypter.create(gcm128, keysFor(gcm128));
  assert.throws(
    () => d.open(new Uint8Array([23, 3, 3, 0, 23]), new Uint8Array(23)),
    refused("bad_record_mac"),
  );
  // The same record again: the sequence number moved on, so it no longer opens (no replay).
  const once = Tls12RecordDecrypter.create(gcm128, keysFor(gcm128));
  once.open(good.subarray(0, 5), good.subarray(5));
  assert.throws(() => once.open(good.subarray(0, 5), good.subarray(5)), refused("bad_record_mac"));
  // 2^14 + 1 bytes of plaintext, authentic: record_overflow (RFC 5246 6.2.3).
  const big = new Uint8Array(16385);
  const explicit = new Uint8Array(8);
  const body = concatBytes(
    explicit,
    await webGcm("encrypt", keys, explicit, aad(0, 23, big.length), big),
  );
  const header = new Uint8Array([23, 3, 3, body.length >> 8, body.length & 0xff]);
  assert.throws(
    () => Tls12RecordDecrypter.create(gcm128, keysFor(gcm128)).open(header, body),
    refused("record_overflow"),
  );
});

Deno.test("TLS 1.2 record keys are wiped once the AEAD has them, and a wrong IV length is refused", () => {
  const keys = keysFor(gcm128);
  Tls12RecordEncrypter.create(gcm128, keys);
  assert.ok(keys.key.every((b) => b === 0));
  assert.throws(
    () => Tls12RecordDecrypter.create(gcm128, { ...keysFor(chacha), key: new Uint8Array(16) }),
    RangeError,
  );
});
