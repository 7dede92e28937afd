import assert from "node:assert/strict";
import { encodeTlv } from "./der.ts";
import { ecdsaCoordinateSize, ecdsaDerToRaw, ecdsaRawToDer } from "./ecdsa_der.ts";

function h(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

function filled(n: number, byte: number): string {
  return byte.toString(16).padStart(2, "0").repeat(n);
}

Deno.test("ecdsaRawToDer() encodes small integers minimally", () => {
  const raw = h(filled(31, 0) + "01" + filled(31, 0) + "7f");
  assert.deepEqual(ecdsaRawToDer(raw), h("3006 020101 02017f"));
});

Deno.test("ecdsaRawToDer() adds a zero byte when the high bit is set", () => {
  const raw = h("80" + filled(31, 0x11) + "00ff" + filled(30, 0x22));
  const der = ecdsaRawToDer(raw);
  assert.deepEqual(
    der,
    h("3045 0221 00 80" + filled(31, 0x11) + " 0220 00ff" + filled(30, 0x22)),
  );
});

Deno.test("ecdsaRawToDer() uses the long length form for P-521", () => {
  const raw = h(filled(66, 0xff) + filled(66, 0xff));
  const der = ecdsaRawToDer(raw);
  // Each INTEGER is 02 43 00 ff..ff (69 bytes): 138 > 127 needs 0x81.
  assert.deepEqual(der.subarray(0, 6), h("30818a024300"));
  assert.equal(der.length, 3 + 138);
  assert.deepEqual(ecdsaDerToRaw(der, 66), raw);
});

Deno.test("ecdsaRawToDer() refuses an odd or empty raw signature", () => {
  assert.throws(() => ecdsaRawToDer(new Uint8Array(63)), RangeError);
  assert.throws(() => ecdsaRawToDer(new Uint8Array(0)), RangeError);
});

Deno.test("ecdsaDerToRaw() pads each integer to the coordinate size", () => {
  assert.deepEqual(
    ecdsaDerToRaw(h("3006 020101 02017f"), 32),
    h(filled(31, 0) + "01" + filled(31, 0) + "7f"),
  );
});

Deno.test("ecdsaDerToRaw() rejects non-minimal, negative, oversize and trailing encodings", () => {
  const cases: [string, string, RegExp][] = [
    ["non-minimal integer", "3007 02020001 02017f", /r: non-minimal INTEGER/],
    ["negative integer", "3006 020181 02017f", /r: negative INTEGER/],
    ["empty integer", "3005 0200 02017f", /r: empty INTEGER/],
    ["zero integer", "3006 020100 02017f", /r is zero/],
    ["trailing after sequence", "3006 020101 02017f 00", /trailing bytes after/],
    ["trailing inside sequence", "3009 020101 02017f 020101", /trailing bytes inside/],
    ["truncated", "3006 020101 0201", /truncated|longer than/],
    ["wrong outer tag", "3106 020101 02017f", /expected a SEQUENCE/],
    ["wrong inner tag", "3006 040101 02017f", /r is not an INTEGER/],
    ["non-minimal length", "308106 020101 02017f", /non-minimal length/],
    ["indefinite length", "3080 020101 02017f 0000", /indefinite/],
    ["integer too long", "3007 0202 0101 02017f", /longer than 1 bytes/],
    ["missing s", "3003 020101", /s is missing/],
    ["negative s", "3006 020101 020181", /s: negative INTEGER/],
  ];
  for (const [name, hex, re] of cases) {
    const size = name === "integer too long" ? 1 : 32;
    assert.throws(() => ecdsaDerToRaw(h(hex), size), re, name);
  }
  assert.throws(() => ecdsaDerToRaw(h("3006 020181 02017f"), 32), {
    name: "SyntaxError",
    message: "Invalid ECDSA signature DER: r: negative INTEGER",
  });
});

Deno.test("ecdsaDerToRaw() drops the sign byte of r and refuses truncated, oversized and negative values", () => {
  const sig = encodeTlv(
    0x30,
    encodeTlv(0x02, new Uint8Array([0x00, 0x80])),
    encodeTlv(0x02, new Uint8Array([1])),
  );
  const raw = ecdsaDerToRaw(sig, 32);
  assert.equal(raw.length, 64);
  assert.equal(raw[31], 0x80);
  assert.equal(raw[63], 1);
  assert.throws(
    () => ecdsaDerToRaw(sig.subarray(0, sig.length - 1), 32),
    /longer than its container/,
  );
  const big = encodeTlv(
    0x30,
    encodeTlv(0x02, new Uint8Array(33).fill(1)),
    encodeTlv(0x02, new Uint8Array([1])),
  );
  assert.throws(() => ecdsaDerToRaw(big, 32), /r is longer than 32 bytes/);
  const negative = encodeTlv(
    0x30,
    encodeTlv(0x02, new Uint8Array([0x80])),
    encodeTlv(0x02, new Uint8Array([1])),
  );
  assert.throws(() => ecdsaDerToRaw(negative, 32), /r: negative INTEGER/);
});

Deno.test("ecdsaDerToRaw() and ecdsaRawToDer() round-trip WebCrypto signatures", async () => {
  for (const curve of ["P-256", "P-384", "P-521"] as const) {
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, false, [
      "sign",
      "verify",
    ]);
    const hash = curve === "P-256" ? "SHA-256" : curve === "P-384" ? "SHA-384" : "SHA-512";
    const msg = new TextEncoder().encode(`message for ${curve}`);
    for (let i = 0; i < 8; i++) {
      const raw = new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash }, keys.privateKey, msg),
      );
      const der = ecdsaRawToDer(raw);
      const back = ecdsaDerToRaw(der, ecdsaCoordinateSize(curve));
      assert.deepEqual(back, raw);
      assert.ok(
        await crypto.subtle.verify({ name: "ECDSA", hash }, keys.publicKey, back, msg),
      );
    }
  }
});
