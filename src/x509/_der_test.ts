import assert from "node:assert/strict";
import {
  decodeBitString,
  decodeOid,
  decodeSmallUint,
  decodeUnsignedInteger,
  encodeTlv,
  readOne,
  readTlv,
} from "./_der.ts";

const b = (...x: number[]) => new Uint8Array(x);

Deno.test("readTlv() reads short and long lengths and refuses what is not DER", () => {
  assert.deepEqual(readOne(b(0x04, 0x02, 0xaa, 0xbb)).value, b(0xaa, 0xbb));
  const long = encodeTlv(0x04, new Uint8Array(300));
  assert.deepEqual(Array.from(long.subarray(0, 4)), [0x04, 0x82, 0x01, 0x2c]);
  assert.equal(readOne(long).value.length, 300);
  const refuse = (bytes: Uint8Array, message: string) =>
    assert.throws(() => readOne(bytes), { name: "DerError", message });
  refuse(b(0x04, 0x81, 0x05, 1, 2, 3, 4, 5), "non-minimal length");
  refuse(b(0x04, 0x82, 0x00, 0x81, ...new Array(0x81).fill(0)), "non-minimal length");
  refuse(b(0x30, 0x80, 0, 0), "indefinite length is not DER");
  refuse(b(0x04, 0x85, 1, 0, 0, 0, 0), "length too large");
  refuse(b(0x04, 0x03, 1, 2), "element longer than its container");
  refuse(b(0x04, 0x01, 1, 2), "trailing bytes after element");
  refuse(b(0x1f, 0x01, 0x00), "unsupported high tag number");
  refuse(b(0x04), "truncated element");
  assert.equal(readTlv(b(0x05, 0x00, 0x05, 0x00), 2).end, 4);
});

Deno.test("decodeOid() reads arcs, including large first arcs, and refuses padding", () => {
  assert.equal(decodeOid(readOne(b(0x06, 0x03, 0x55, 0x1d, 0x13))), "2.5.29.19");
  assert.equal(
    decodeOid(readOne(b(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b))),
    "1.2.840.113549.1.1.11",
  );
  assert.equal(decodeOid(readOne(b(0x06, 0x02, 0x88, 0x37))), "2.999");
  assert.throws(() => decodeOid(readOne(b(0x06, 0x02, 0x80, 0x01))), /non-minimal OID arc/);
  assert.throws(() => decodeOid(readOne(b(0x06, 0x01, 0x81))), /bad OID/);
});

Deno.test("decodeSmallUint(), decodeUnsignedInteger() and decodeBitString() are strict", () => {
  assert.equal(decodeSmallUint(readOne(b(0x02, 0x01, 0x00))), 0);
  assert.equal(decodeSmallUint(readOne(b(0x02, 0x02, 0x00, 0x80))), 128);
  assert.throws(() => decodeSmallUint(readOne(b(0x02, 0x02, 0x00, 0x01))), /non-minimal/);
  assert.throws(() => decodeSmallUint(readOne(b(0x02, 0x01, 0xff))), /negative/);
  assert.deepEqual(decodeUnsignedInteger(readOne(b(0x02, 0x02, 0x00, 0xff))), b(0xff));
  assert.deepEqual(decodeBitString(readOne(b(0x03, 0x02, 0x05, 0xa0))), {
    bytes: b(0xa0),
    unusedBits: 5,
  });
  assert.throws(() => decodeBitString(readOne(b(0x03, 0x02, 0x05, 0xa1))), /padding bits/);
  assert.throws(() => decodeBitString(readOne(b(0x03, 0x01, 0x01))), /bad BIT STRING/);
});
