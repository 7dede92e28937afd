import assert from "node:assert/strict";
import { fromHex, toHex } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import { KeyShare } from "./key_share.ts";
import { systemRandom } from "../random.ts";
import { fixedRandom } from "../testing/mod.ts";

Deno.test("KeyShare x25519 matches RFC 7748 section 6.1 (public keys and shared secret)", async () => {
  const alice = await KeyShare.generate(
    0x001d,
    fixedRandom(fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")),
  );
  assert.equal(
    toHex(alice.publicKey),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  const bobPublic = fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  assert.equal(
    toHex(await alice.sharedSecret(bobPublic)),
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
  );
});

Deno.test("KeyShare refuses x25519 shares of the wrong length or of low order", async () => {
  const share = await KeyShare.generate(0x001d, systemRandom);
  const lowOrder = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  ];
  for (const bad of [...lowOrder.map(fromHex), new Uint8Array(31), new Uint8Array(33)]) {
    await assert.rejects(
      share.sharedSecret(bad),
      (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "illegal_parameter",
      toHex(bad),
    );
  }
});

Deno.test("KeyShare agrees with itself on every group", async () => {
  for (const group of [0x001d, 0x0017, 0x0018]) {
    const a = await KeyShare.generate(group, systemRandom);
    const b = await KeyShare.generate(group, systemRandom);
    assert.equal(
      toHex(await a.sharedSecret(b.publicKey)),
      toHex(await b.sharedSecret(a.publicKey)),
    );
  }
});
