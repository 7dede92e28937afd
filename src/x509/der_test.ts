import assert from "node:assert/strict";
import {
  bitLength,
  bitString,
  children,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeSmallUint,
  decodeUnsignedInteger,
  decodeWholeBitString,
  encodeTlv,
  expectTag,
  explicit,
  hex,
  nullValue,
  octetString,
  oid,
  readOne,
  readTlv,
  seq,
  set,
  smallInteger,
  unsignedInteger,
  utf8String,
} from "./der.ts";

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
  refuse(b(0x04, 0x82, 0x01), "truncated length");
  assert.equal(readTlv(b(0x05, 0x00, 0x05, 0x00), 2).end, 4);
  assert.equal(readTlv(b(0x05, 0x00)).end, 2);
  assert.throws(() => readOne(b(0x05, 0x00), 0x04), {
    name: "DerError",
    message: "expected tag 0x04, found 0x05",
  });
});

Deno.test("children() and expectTag() say what is missing", () => {
  const two = readOne(seq(nullValue(), nullValue()));
  assert.equal(children(two).length, 2);
  assert.equal(children(two, 2).length, 2);
  assert.throws(() => children(two, 3), {
    name: "DerError",
    message: "expected 3 elements, found 2",
  });
  assert.throws(() => children(undefined), { name: "DerError", message: "missing element" });
  assert.throws(() => children(readOne(nullValue())), {
    name: "DerError",
    message: "element 0x05 is not constructed",
  });
  const [first, second] = children(readOne(seq(nullValue())));
  assert.equal(expectTag(first, 0x05), first);
  assert.throws(() => expectTag(second, 0x02), {
    name: "DerError",
    message: "missing element with tag 0x02",
  });
  assert.throws(() => decodeOid(second), { message: "missing element with tag 0x06" });
});

Deno.test("decodeOid() reads arcs, including large first arcs, and refuses padding", () => {
  assert.equal(decodeOid(readOne(b(0x06, 0x03, 0x55, 0x1d, 0x13))), "2.5.29.19");
  assert.equal(
    decodeOid(readOne(b(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b))),
    "1.2.840.113549.1.1.11",
  );
  assert.equal(decodeOid(readOne(b(0x06, 0x02, 0x88, 0x37))), "2.999");
  assert.throws(() => decodeOid(readOne(b(0x06, 0x02, 0x80, 0x01))), /non-minimal OID arc/);
  assert.throws(() => decodeOid(readOne(b(0x06, 0x01, 0x81))), /truncated OID/);
  assert.throws(() => decodeOid(readOne(b(0x06, 0x00))), /empty OID/);
  const huge = b(0x06, 0x09, 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
  assert.throws(() => decodeOid(readOne(huge)), /OID arc too large/);
});

Deno.test("oid() encodes what decodeOid() reads", () => {
  for (const dotted of ["1.2.840.113549.1.1.11", "2.5.29.19", "2.999", "1.3.101.112", "0.0"]) {
    assert.equal(decodeOid(readOne(oid(dotted))), dotted);
  }
  assert.deepEqual(oid("2.5.29.19"), b(0x06, 0x03, 0x55, 0x1d, 0x13));
  assert.throws(() => oid("1"), RangeError);
  assert.throws(() => oid("1.2.x"), RangeError);
});

Deno.test("decodeSmallUint(), decodeUnsignedInteger() and decodeBitString() are strict", () => {
  assert.equal(decodeSmallUint(readOne(b(0x02, 0x01, 0x00))), 0);
  assert.equal(decodeSmallUint(readOne(b(0x02, 0x02, 0x00, 0x80))), 128);
  assert.equal(decodeSmallUint(readOne(b(0x02, 0x04, 0x7f, 0xff, 0xff, 0xff))), 0x7fffffff);
  assert.throws(() => decodeSmallUint(readOne(b(0x02, 0x02, 0x00, 0x01))), /non-minimal/);
  assert.throws(() => decodeSmallUint(readOne(b(0x02, 0x01, 0xff))), /negative/);
  assert.throws(
    () => decodeSmallUint(readOne(b(0x02, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00))),
    /INTEGER out of range/,
  );
  assert.throws(() => decodeSmallUint(readOne(b(0x02, 0x00))), /empty INTEGER/);
  assert.deepEqual(decodeUnsignedInteger(readOne(b(0x02, 0x02, 0x00, 0xff))), b(0xff));
  assert.deepEqual(decodeUnsignedInteger(readOne(b(0x02, 0x01, 0x00))), b(0x00));
  assert.deepEqual(decodeBitString(readOne(b(0x03, 0x02, 0x05, 0xa0))), {
    bytes: b(0xa0),
    unusedBits: 5,
  });
  assert.throws(() => decodeBitString(readOne(b(0x03, 0x02, 0x05, 0xa1))), /padding bits/);
  assert.throws(() => decodeBitString(readOne(b(0x03, 0x01, 0x01))), /bad BIT STRING/);
  assert.deepEqual(decodeWholeBitString(readOne(b(0x03, 0x02, 0x00, 0xa1))), b(0xa1));
  assert.throws(
    () => decodeWholeBitString(readOne(b(0x03, 0x02, 0x05, 0xa0))),
    /BIT STRING has unused bits/,
  );
  assert.equal(decodeBoolean(readOne(b(0x01, 0x01, 0xff))), true);
  assert.equal(decodeBoolean(readOne(b(0x01, 0x01, 0x00))), false);
  assert.throws(() => decodeBoolean(readOne(b(0x01, 0x01, 0x01))), /bad BOOLEAN/);
});

Deno.test("unsignedInteger() and smallInteger() write minimal INTEGERs", () => {
  assert.deepEqual(unsignedInteger(b(0x00, 0x00, 0x7f)), b(0x02, 0x01, 0x7f));
  assert.deepEqual(unsignedInteger(b(0x00, 0x80)), b(0x02, 0x02, 0x00, 0x80));
  assert.deepEqual(unsignedInteger(b(0x00, 0x00)), b(0x02, 0x01, 0x00));
  assert.deepEqual(unsignedInteger(b()), b(0x02, 0x01, 0x00));
  assert.deepEqual(smallInteger(0), b(0x02, 0x01, 0x00));
  assert.deepEqual(smallInteger(128), b(0x02, 0x02, 0x00, 0x80));
  assert.equal(decodeSmallUint(readOne(smallInteger(0x7fffffff))), 0x7fffffff);
  assert.throws(() => smallInteger(-1), RangeError);
  assert.throws(() => smallInteger(0x80000000), RangeError);
});

Deno.test("seq(), explicit() and the other builders write X.690 tags and lengths", () => {
  assert.deepEqual(seq(nullValue()), b(0x30, 0x02, 0x05, 0x00));
  assert.deepEqual(set(), b(0x31, 0x00));
  assert.deepEqual(octetString(b(1, 2)), b(0x04, 0x02, 1, 2));
  assert.deepEqual(bitString(b(0xff)), b(0x03, 0x02, 0x00, 0xff));
  assert.deepEqual(explicit(2, nullValue()), b(0xa2, 0x02, 0x05, 0x00));
  assert.deepEqual(utf8String("é"), b(0x0c, 0x02, 0xc3, 0xa9));
  assert.deepEqual(encodeTlv(0x04, b(1), b(2, 3)), b(0x04, 0x03, 1, 2, 3));
  const big = encodeTlv(0x04, new Uint8Array(0x10000));
  assert.deepEqual(big.subarray(0, 5), b(0x04, 0x83, 0x01, 0x00, 0x00));
  assert.equal(readOne(big).value.length, 0x10000);
});

Deno.test("hex() and bitLength() describe bytes", () => {
  assert.equal(hex(0x0a), "0a");
  assert.equal(hex(b(0x00, 0xff, 0x10)), "00ff10");
  assert.equal(bitLength(b(0x00, 0x80, 0x00)), 16);
  assert.equal(bitLength(b(0x01)), 1);
  assert.equal(bitLength(b(0x00)), 0);
  assert.equal(bitLength(new Uint8Array(256).fill(0xff)), 2048);
});
