import assert from "node:assert/strict";
import { activationFromEnv } from "./activation.ts";

Deno.test("activationFromEnv() takes fd 3 when LISTEN_PID is this process", () => {
  assert.deepEqual(activationFromEnv({ LISTEN_PID: "42", LISTEN_FDS: "1" }, 42), {
    fd: 3,
    count: 1,
  });
  assert.deepEqual(activationFromEnv({ LISTEN_PID: "42", LISTEN_FDS: "2" }, 42), {
    fd: 3,
    count: 2,
  });
});

Deno.test("activationFromEnv() ignores variables meant for another process or malformed", () => {
  assert.equal(activationFromEnv({}, 42), undefined);
  assert.equal(activationFromEnv({ LISTEN_PID: "41", LISTEN_FDS: "1" }, 42), undefined);
  assert.equal(activationFromEnv({ LISTEN_PID: "42", LISTEN_FDS: "0" }, 42), undefined);
  assert.equal(activationFromEnv({ LISTEN_PID: "42x", LISTEN_FDS: "1" }, 42), undefined);
  assert.equal(activationFromEnv({ LISTEN_PID: "42", LISTEN_FDS: "-1" }, 42), undefined);
  assert.equal(activationFromEnv({ LISTEN_FDS: "1" }, 42), undefined);
});
