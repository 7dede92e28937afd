/** Transcript hash (RFC 8446 4.4.1), including the HelloRetryRequest message_hash rule. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { concatBytes, toHex } from "../codec.ts";
import { Transcript } from "./transcript.ts";
import { rfc8448 } from "../testing/mod.ts";

const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

Deno.test("Transcript replaces ClientHello1 by message_hash after a HelloRetryRequest (RFC 8448 trace)", () => {
  const v = rfc8448("HelloRetryRequest_Handshake");
  const ch1 = v.Record_ClientHello_1.subarray(5);
  const hrr = v.Record_HelloRetryRequest.subarray(5);
  const ch2 = v.Record_ClientHello_2.subarray(5);
  const t = new Transcript();
  t.add(ch1);
  t.replaceWithMessageHash("SHA-256");
  t.add(hrr);
  t.add(ch2);
  t.add(v.Message_ServerHello);
  // message_hash = handshake type 254, uint24 length 32, Hash(ClientHello1).
  const synthetic = concatBytes(new Uint8Array([254, 0, 0, 32]), sha256(ch1));
  const expected = sha256(concatBytes(synthetic, hrr, ch2, v.Message_ServerHello));
  assert.equal(toHex(t.digest()), toHex(expected));
});

Deno.test("Transcript buffers messages until the hash is chosen and can digest repeatedly", () => {
  const t = new Transcript();
  const a = new Uint8Array([1, 0, 0, 1, 9]);
  const b = new Uint8Array([2, 0, 0, 1, 8]);
  t.add(a);
  assert.throws(() => t.digest(), /before the cipher suite was chosen/);
  t.selectHash("SHA-384");
  t.add(b);
  const once = t.digest();
  assert.equal(toHex(t.digest()), toHex(once));
  assert.equal(once.length, 48);
  assert.equal(
    toHex(once),
    toHex(new Uint8Array(createHash("sha384").update(concatBytes(a, b)).digest())),
  );
  assert.throws(() => t.selectHash("SHA-256"), /changed/);
});
