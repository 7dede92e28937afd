import assert from "node:assert/strict";
import { inspect } from "node:util";
import { redactPinValue, Secret } from "./secret.ts";

Deno.test("Secret prints as [redacted] everywhere", () => {
  const s = new Secret("123456");
  assert.equal(String(s), "[redacted]");
  assert.equal(`${s}`, "[redacted]");
  assert.equal(JSON.stringify({ pin: s }), '{"pin":"[redacted]"}');
  assert.equal(Deno.inspect({ pin: s }), "{ pin: [redacted] }");
  assert.equal(inspect({ pin: s }), "{ pin: [redacted] }");
  assert.ok(!Deno.inspect(s, { showHidden: true, depth: 10 }).includes("123456"));
});

Deno.test("Secret.expose() returns the value and equals() compares values", () => {
  assert.equal(new Secret("1234").expose(), "1234");
  assert.ok(new Secret("1234").equals(new Secret("1234")));
  assert.ok(!new Secret("1234").equals(new Secret("4321")));
});

Deno.test("redactPinValue() blanks every pin-value of a PKCS#11 URI, nothing else", () => {
  assert.equal(
    redactPinValue("pkcs11:token=edge;object=k?pin-value=1234&module-name=x"),
    "pkcs11:token=edge;object=k?pin-value=[redacted]&module-name=x",
  );
  assert.equal(
    redactPinValue("pkcs11:object=k?PIN-VALUE=%31%32"),
    "pkcs11:object=k?PIN-VALUE=[redacted]",
  );
  assert.equal(redactPinValue("pkcs11:token=edge"), "pkcs11:token=edge");
});
