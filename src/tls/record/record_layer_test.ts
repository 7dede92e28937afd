/** RecordLayer's ownership of record keys: replaced or closed keys are disposed of. */

import assert from "node:assert/strict";
import { CIPHER_SUITES } from "../cipher_suites.ts";
import { TlsLocalError } from "../errors.ts";
import { ContentType } from "./record.ts";
import { RecordLayer } from "./record_layer.ts";
import { RecordDecrypter, RecordEncrypter } from "./record_protection.ts";
import { ScriptedTransport } from "../testing/mod.ts";

const suite = CIPHER_SUITES[0];
const keys = () => ({ key: new Uint8Array(16).fill(1), iv: new Uint8Array(12).fill(2) });

Deno.test("RecordLayer disposes of the keys it replaces, and of the keys in use when it closes", async () => {
  const layer = new RecordLayer(new ScriptedTransport([]), 1_000);
  const [d1, d2] = [
    RecordDecrypter.fromKeys(suite, keys()),
    RecordDecrypter.fromKeys(suite, keys()),
  ];
  const [e1, e2] = [
    RecordEncrypter.fromKeys(suite, keys()),
    RecordEncrypter.fromKeys(suite, keys()),
  ];
  const record = RecordEncrypter.fromKeys(suite, keys()).sealRecord(
    ContentType.alert,
    new Uint8Array([1, 0]),
  );
  const discarded = (e: unknown) =>
    e instanceof TlsLocalError && /keys were discarded/.test(e.message);
  layer.setDecrypter(d1);
  layer.setDecrypter(d1); // the same keys again: kept
  layer.setDecrypter(d2);
  assert.throws(() => d1.open(record.subarray(0, 5), record.subarray(5)), discarded);
  await layer.enqueueWrite(() => Promise.resolve(layer.setEncrypter(e1)));
  await layer.enqueueWrite(() => Promise.resolve(layer.setEncrypter(e2)));
  assert.throws(() => e1.sealRecord(ContentType.alert, new Uint8Array([1, 0])), discarded);
  assert.equal(d2.open(record.subarray(0, 5), record.subarray(5)).type, ContentType.alert);
  layer.close();
  assert.throws(() => d2.open(record.subarray(0, 5), record.subarray(5)), discarded);
  assert.throws(() => e2.sealRecord(ContentType.alert, new Uint8Array([1, 0])), discarded);
});
