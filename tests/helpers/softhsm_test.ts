import assert from "node:assert/strict";
import { tempDir } from "./process.ts";
import { SoftHsm } from "./softhsm.ts";

Deno.test("SoftHsm helper makes a token and imports every key kind", async () => {
  await using dir = await tempDir();
  const hsm = await SoftHsm.create(dir.path);
  const token = await hsm.initToken("edge");
  assert.match(token.serial, /^[0-9a-f]{16}$/);
  for (const kind of ["p256", "ed25519"] as const) {
    const key = await hsm.importNewKey(token, kind);
    assert.ok(key.spki.length > 30);
    assert.match(key.uri, /^pkcs11:token=edge;object=key-/);
  }
});
