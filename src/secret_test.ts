import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Secret } from "./secret.ts";

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
