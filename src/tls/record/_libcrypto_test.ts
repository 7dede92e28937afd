/**
 * The libcrypto AEADs (FFI) on their own: known answers per suite, agreement with node:crypto
 * for every record size class up to 2^14 + 256 both ways, refusal of tampered records, bounds
 * checks before any call into C, and the life of a context (direction, dispose).
 */

import assert from "node:assert/strict";
import { aeadName, type AeadUse, NodeAead, type RecordAead } from "./aead.ts";
import { CIPHER_SUITES, type CipherSuiteInfo } from "../cipher_suites.ts";
import { toHex } from "../codec.ts";
import { TlsLocalError } from "../errors.ts";
import { Libcrypto, LIBCRYPTO_PATH } from "./_libcrypto.ts";
import { AEAD_VECTORS, checkAead, sealCopy } from "./_aead_known_answers.ts";

const lib = Libcrypto.open(LIBCRYPTO_PATH);

/** Runs `fn` with an AEAD of `lib`, disposed afterwards. */
function withAead<T>(
  suite: CipherSuiteInfo,
  key: Uint8Array,
  use: AeadUse,
  fn: (aead: RecordAead) => T,
): T {
  const aead = lib.create(suite, key, use);
  try {
    return fn(aead);
  } finally {
    aead.dispose();
  }
}

const suiteKey = (suite: CipherSuiteInfo) =>
  new Uint8Array(suite.keyLength).map((_, i) => (i * 29 + suite.code) & 0xff);

Deno.test("Libcrypto has the AEAD of every TLS 1.3 suite (OpenSSL 3)", () => {
  assert.match(lib.version, /^3\.\d+\.\d+$/);
  for (const suite of CIPHER_SUITES) assert.ok(lib.supports(suite), suite.name);
});

Deno.test("Libcrypto AEADs seal and open each suite's known answer", () => {
  for (const suite of CIPHER_SUITES) {
    const v = AEAD_VECTORS[aeadName(suite)];
    const sealed = withAead(suite, v.key, "seal", (a) => sealCopy(a, v.nonce, v.aad, v.plaintext));
    assert.equal(toHex(sealed), toHex(v.sealed), v.source);
    const opened = withAead(suite, v.key, "open", (a) => a.open(v.nonce, v.aad, v.sealed));
    assert.equal(toHex(opened!), toHex(v.plaintext), v.source);
  }
});

Deno.test("Libcrypto AEADs pass the start-up self-test, and it catches an AEAD that fails open", () => {
  for (const suite of CIPHER_SUITES) {
    const name = aeadName(suite);
    const node = (key: Uint8Array) => new NodeAead(suite, key);
    assert.equal(checkAead(suite, name, (k, u) => lib.create(suite, k, u), node), undefined);
    // An AEAD that ignores its tag must not pass.
    const failsOpen = (key: Uint8Array): RecordAead => {
      const inner = new NodeAead(suite, key);
      return {
        backend: "test",
        sealInPlace: (...args) => inner.sealInPlace(...args),
        open: (nonce, aad, ct) => {
          const right = inner.open(nonce, aad, ct);
          return right ?? new Uint8Array(Math.max(0, ct.length - 16));
        },
        dispose: () => inner.dispose(),
      };
    };
    assert.match(checkAead(suite, name, failsOpen, node)!, /tampered tag opened/);
  }
});

/** Record sizes: every length up to 600, then a stride up to 2^14 + 256, and the edges. */
function recordSizes(): number[] {
  const sizes: number[] = [];
  for (let n = 0; n <= 600; n++) sizes.push(n);
  for (let n = 601; n < 16384 + 256; n += 37) sizes.push(n);
  sizes.push(4096, 8191, 8192, 16383, 16384, 16385, 16384 + 255, 16384 + 256);
  return sizes;
}

Deno.test("Libcrypto AEADs agree with node:crypto both ways for records of 0 to 2^14 + 256 bytes", () => {
  const sizes = recordSizes();
  for (const suite of CIPHER_SUITES) {
    const key = suiteKey(suite);
    const ours = { seal: lib.create(suite, key, "seal"), open: lib.create(suite, key, "open") };
    const node = new NodeAead(suite, key);
    try {
      for (const [i, size] of sizes.entries()) {
        const nonce = new Uint8Array(12).map((_, j) => (i * 7 + j) & 0xff);
        const aad = new Uint8Array([0x17, 0x03, 0x03, (size + 16) >> 8, (size + 16) & 0xff]);
        const plaintext = new Uint8Array(size).map((_, j) => (j * 31 + i) & 0xff);
        const sealed = sealCopy(ours.seal, nonce, aad, plaintext);
        const reference = sealCopy(node, nonce, aad, plaintext);
        assert.ok(sealed.every((b, j) => b === reference[j]), `${suite.name} ${size} B sealed`);
        const byNode = node.open(nonce, aad, sealed);
        assert.ok(byNode && byNode.every((b, j) => b === plaintext[j]), `${suite.name} ${size}`);
        const byUs = ours.open.open(nonce, aad, reference);
        assert.equal(byUs?.length, size);
        assert.ok(byUs!.every((b, j) => b === plaintext[j]), `${suite.name} ${size} B opened`);
      }
    } finally {
      ours.seal.dispose();
      ours.open.dispose();
    }
  }
});

Deno.test("Libcrypto AEADs refuse a tampered tag, ciphertext, additional data, nonce or length", () => {
  for (const suite of CIPHER_SUITES) {
    const key = suiteKey(suite);
    const nonce = new Uint8Array(12).fill(3);
    const aad = new Uint8Array([0x17, 0x03, 0x03, 0x01, 0x10]);
    const plaintext = new Uint8Array(256).map((_, i) => i);
    const sealed = withAead(suite, key, "seal", (a) => sealCopy(a, nonce, aad, plaintext));
    withAead(suite, key, "open", (open) => {
      for (let at = 0; at < sealed.length; at += 17) {
        const bad = sealed.slice();
        bad[at] ^= 0x80;
        assert.equal(open.open(nonce, aad, bad), null, `${suite.name} byte ${at}`);
      }
      const lastTagByte = sealed.slice();
      lastTagByte[sealed.length - 1] ^= 1;
      assert.equal(open.open(nonce, aad, lastTagByte), null);
      for (let at = 0; at < aad.length; at++) {
        const badAad = aad.slice();
        badAad[at] ^= 1;
        assert.equal(open.open(nonce, badAad, sealed), null, `${suite.name} aad ${at}`);
      }
      const badNonce = nonce.slice();
      badNonce[11] ^= 1;
      assert.equal(open.open(badNonce, aad, sealed), null);
      assert.equal(open.open(nonce, aad, sealed.subarray(0, sealed.length - 1)), null);
      assert.equal(open.open(nonce, aad, sealed.subarray(0, 15)), null);
      assert.equal(open.open(nonce, aad, new Uint8Array(0)), null);
      // After all those failures the context still opens the genuine record.
      assert.equal(toHex(open.open(nonce, aad, sealed)!), toHex(plaintext));
    });
  }
});

Deno.test("Libcrypto AEADs seal in place inside a larger buffer and touch nothing around it", () => {
  for (const suite of CIPHER_SUITES) {
    const key = suiteKey(suite);
    const nonce = new Uint8Array(12).fill(9);
    const plaintext = new Uint8Array(1000).map((_, i) => i & 0xff);
    // [sentinels][aad 5][plaintext][tag 16][sentinels], inside a view at an odd offset.
    const backing = new Uint8Array(7 + 32 + 5 + plaintext.length + 16 + 32).fill(0xee);
    const buf = backing.subarray(7);
    const aadAt = 32, at = aadAt + 5;
    buf.set([0x17, 0x03, 0x03, 0x03, 0xf8], aadAt);
    buf.set(plaintext, at);
    withAead(suite, key, "seal", (a) => {
      a.sealInPlace(nonce, buf.subarray(aadAt, at), buf, at, plaintext.length);
    });
    assert.ok(backing.subarray(0, 7 + aadAt).every((b) => b === 0xee), "before");
    assert.ok(buf.subarray(at + plaintext.length + 16).every((b) => b === 0xee), "after");
    const node = new NodeAead(suite, key);
    const record = buf.slice(at, at + plaintext.length + 16);
    assert.equal(toHex(node.open(nonce, buf.subarray(aadAt, at), record)!), toHex(plaintext));
    // Opening from a view leaves that view as it was.
    const copy = buf.slice();
    withAead(suite, key, "open", (a) => {
      const opened = a.open(nonce, buf.subarray(aadAt, at), buf.subarray(at, at + 1016));
      assert.equal(toHex(opened!), toHex(plaintext));
    });
    assert.equal(toHex(buf), toHex(copy));
  }
});

Deno.test("Libcrypto AEADs refuse spans outside the buffer before calling into C", () => {
  const suite = CIPHER_SUITES[0];
  withAead(suite, suiteKey(suite), "seal", (a) => {
    const buf = new Uint8Array(64).fill(1);
    const aad = new Uint8Array(5);
    const nonce = new Uint8Array(12);
    const before = toHex(buf);
    for (const [at, length] of [[0, 49], [1, 48], [-1, 10], [0, -1], [0.5, 10], [60, 0]]) {
      assert.throws(
        () => a.sealInPlace(nonce, aad, buf, at, length),
        RangeError,
        `${at} ${length}`,
      );
    }
    assert.throws(() => a.sealInPlace(new Uint8Array(11), aad, buf, 0, 10), RangeError);
    assert.throws(() => a.sealInPlace(nonce, buf.subarray(40, 45), buf, 0, 30), RangeError);
    assert.equal(toHex(buf), before);
    a.sealInPlace(nonce, aad, buf, 0, 48); // exactly fits
  });
});

Deno.test("Libcrypto AEADs work one way only and throw once disposed", () => {
  const suite = CIPHER_SUITES[2];
  const key = suiteKey(suite);
  const seal = lib.create(suite, key, "seal");
  const open = lib.create(suite, key, "open");
  const nonce = new Uint8Array(12);
  const aad = new Uint8Array(5);
  assert.throws(() => open.sealInPlace(nonce, aad, new Uint8Array(32), 0, 16), /set up to open/);
  assert.throws(() => seal.open(nonce, aad, new Uint8Array(32)), /set up to seal/);
  const sealed = sealCopy(seal, nonce, aad, new Uint8Array(10));
  seal.dispose();
  seal.dispose(); // idempotent
  open.dispose();
  assert.throws(() => sealCopy(seal, nonce, aad, new Uint8Array(10)), TlsLocalError);
  assert.throws(() => open.open(nonce, aad, sealed), TlsLocalError);
  assert.throws(() => lib.create(suite, new Uint8Array(16), "seal"), RangeError);
});
