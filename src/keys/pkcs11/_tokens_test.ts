import assert from "node:assert/strict";
import { tokenField, tokenMatches } from "./_tokens.ts";
import { KeyUri } from "./uri.ts";

Deno.test("tokenField() drops blank and NUL padding, keeping inner blanks", () => {
  assert.equal(tokenField("edge                            "), "edge");
  assert.equal(tokenField("SW   TPM\0\0\0\0\0\0\0\0"), "SW   TPM");
  assert.equal(tokenField("IBM\0 \0 "), "IBM");
  assert.equal(tokenField("\0\0\0\0"), "");
});

Deno.test("tokenMatches() compares a URI's token attributes with the trimmed fields", () => {
  // tpm2-pkcs11's token, as C_GetTokenInfo reports it once trimmed.
  const tpm = {
    label: "edge",
    serial: "0000000000000000",
    manufacturer: "IBM",
    model: "SW   TPM",
    slotId: 1n,
  };
  for (
    const text of [
      "pkcs11:model=SW%20%20%20TPM",
      // What listings printed before the padding was trimmed still names the same token.
      "pkcs11:token=edge;manufacturer=IBM;serial=0000000000000000;model=SW%20%20%20TPM%00%00%00",
      "pkcs11:token=edge%20%20;slot-id=1",
    ]
  ) {
    assert.ok(tokenMatches(tpm, KeyUri.parse(text)), text);
  }
  for (const text of ["pkcs11:model=SW%20TPM", "pkcs11:token=edge;slot-id=2", "pkcs11:token=edg"]) {
    assert.equal(tokenMatches(tpm, KeyUri.parse(text)), false, text);
  }
});
