import assert from "node:assert/strict";
import { LoopBreaker } from "./loop_breaker.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("LoopBreaker.isEcho() consumes one expectation per echo", () => {
  const lb = new LoopBreaker();
  lb.expect("a", bytes("1"));
  lb.expect("a", bytes("1"));
  assert.equal(lb.isEcho("a", bytes("2")), false, "other payload");
  assert.equal(lb.isEcho("b", bytes("1")), false, "other topic");
  assert.equal(lb.isEcho("a", bytes("1")), true);
  assert.equal(lb.isEcho("a", bytes("1")), true);
  assert.equal(lb.isEcho("a", bytes("1")), false, "both echoes consumed");
  assert.equal(lb.size, 0);
});

Deno.test("LoopBreaker forgets expectations after their time to live", () => {
  let now = 0;
  const lb = new LoopBreaker(1000, 100, () => now);
  lb.expect("a", bytes("x"));
  now = 1001;
  assert.equal(lb.isEcho("a", bytes("x")), false);
});

Deno.test("LoopBreaker stays within its capacity", () => {
  const lb = new LoopBreaker(60_000, 10);
  for (let i = 0; i < 100; i++) lb.expect(`t${i % 3}`, bytes(String(i)));
  assert.ok(lb.size <= 10, `size ${lb.size}`);
  assert.equal(lb.isEcho("t0", bytes("99")), true, "the newest entries are kept");
});
