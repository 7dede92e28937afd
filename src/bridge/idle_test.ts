import assert from "node:assert/strict";
import { IdleWatch } from "./idle.ts";

Deno.test("IdleWatch calls onIdle once per quiet period", () => {
  let activity = 0;
  let calls = 0;
  const watch = new IdleWatch(() => activity, () => calls++, 60_000);
  watch.start();
  try {
    watch.check(); // nothing since start: idle after start-up
    assert.equal(calls, 1);
    watch.check(); // still quiet: no second call
    assert.equal(calls, 1);
    activity += 5;
    watch.check(); // busy period
    assert.equal(calls, 1);
    activity += 1;
    watch.check(); // still busy
    watch.check(); // quiet again
    assert.equal(calls, 2);
  } finally {
    watch.stop();
  }
});

Deno.test("IdleWatch checks on its own timer until stopped", async () => {
  let calls = 0;
  const watch = new IdleWatch(() => 0, () => calls++, 5);
  watch.start();
  await new Promise((r) => setTimeout(r, 30));
  watch.stop();
  assert.equal(calls, 1);
});
