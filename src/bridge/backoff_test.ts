import assert from "node:assert/strict";
import { Backoff } from "./backoff.ts";

const policy = { initialMs: 1000, maximumMs: 10_000, resetWindowMs: 60_000 };

Deno.test("Backoff.next() doubles from the initial interval up to the maximum", () => {
  const b = new Backoff(policy, () => 0.5); // no jitter
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next()), [
    1000,
    2000,
    4000,
    8000,
    10_000,
    10_000,
  ]);
});

Deno.test("Backoff.next() jitters by +-50% and never exceeds the maximum", () => {
  const low = new Backoff(policy, () => 0);
  const high = new Backoff(policy, () => 0.999999);
  assert.equal(low.next(), 500);
  assert.equal(high.next(), 1500);
  for (let i = 0; i < 10; i++) high.next();
  assert.equal(high.next(), 10_000);
});

Deno.test("Backoff resets only after a connection that lasted the reset window", () => {
  let now = 0;
  const b = new Backoff(policy, () => 0.5, () => now);
  b.next();
  b.next();
  b.connected();
  now += 59_999;
  b.disconnected();
  assert.equal(b.next(), 4000, "short connection: keeps growing");
  b.connected();
  now += 60_000;
  b.disconnected();
  assert.equal(b.next(), 1000, "stable connection: back to the start");
});

Deno.test("Backoff refuses a policy whose maximum is below its initial interval", () => {
  assert.throws(
    () => new Backoff({ initialMs: 10, maximumMs: 5, resetWindowMs: 1 }),
    /Invalid reconnect policy/,
  );
});
