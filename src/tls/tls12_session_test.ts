/**
 * A TLS 1.2 connection at the AES-GCM record limit: it cannot change keys, so the write that
 * would pass the limit fails and the connection ends with close_notify (protected under the
 * keys in use); ChaCha20-Poly1305 has no such limit here.
 */

import assert from "node:assert/strict";
import { cipherSuiteInfo } from "./cipher_suites.ts";
import { TlsConnectionImpl } from "./connection.ts";
import { TlsLocalError } from "./errors.ts";
import type { HandshakeInfo } from "./options.ts";
import { ContentType, RecordLayer, RecordReader } from "./record/mod.ts";
import { Tls12RecordDecrypter, Tls12RecordEncrypter } from "./record/mod.ts";
import { pipePair } from "./testing/mod.ts";
import { AES_GCM_RECORD_LIMIT, Tls12Session } from "./tls12_session.ts";

const gcm = cipherSuiteInfo(0xc02b)!;
const keys = () => ({ key: new Uint8Array(16).fill(7), fixedIv: new Uint8Array(4).fill(9) });

Deno.test("Tls12Session: AES-GCM keys stop at 2^24 records, ChaCha20-Poly1305 keys do not", () => {
  assert.equal(new Tls12Session(gcm).recordLimit, AES_GCM_RECORD_LIMIT);
  assert.equal(AES_GCM_RECORD_LIMIT, 2 ** 24);
  assert.equal(new Tls12Session(cipherSuiteInfo(0xcca9)!).recordLimit, Number.MAX_SAFE_INTEGER);
  const s = new Tls12Session(gcm, 10);
  s.checkRecords(8, 2);
  assert.throws(() => s.checkRecords(9, 2), TlsLocalError);
});

Deno.test("a TLS 1.2 connection that reaches its record limit fails the write and sends close_notify", async () => {
  const [c, s] = pipePair();
  const layer = new RecordLayer(c, 1_000);
  await layer.enqueueWrite(() =>
    Promise.resolve(layer.setEncrypter(Tls12RecordEncrypter.create(gcm, keys())))
  );
  const conn = new TlsConnectionImpl(
    layer,
    new Tls12Session(gcm, 3),
    { version: "TLSv1.2" } as HandshakeInfo,
  );
  await conn.write(new Uint8Array(20_000)); // records 1 and 2
  await conn.write(new Uint8Array(10)); // record 3: the last one these keys may protect
  await assert.rejects(conn.write(new Uint8Array(10)), (e: unknown) => {
    assert.ok(e instanceof TlsLocalError);
    assert.match(e.message, /^TLS 1\.2 connection closed after 3 records: .*connect again$/);
    assert.equal(e.alertToSend, "close_notify");
    return true;
  });
  await conn.closed;
  const reader = new RecordReader(s, 1_000);
  reader.ciphertextForAllTypes = true;
  const open = Tls12RecordDecrypter.create(gcm, keys());
  const got: number[] = [];
  for (let r = await reader.next(); r; r = await reader.next()) {
    const o = open.open(r.header, r.fragment);
    got.push(o.type);
    if (o.type === ContentType.alert) assert.deepEqual([...o.content], [1, 0]);
  }
  assert.deepEqual(got, [23, 23, 23, ContentType.alert]);
});
