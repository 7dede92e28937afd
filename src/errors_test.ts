import assert from "node:assert/strict";
import {
  EXIT_CONFIG,
  EXIT_FAILURE,
  EXIT_USAGE,
  exitCodeOf,
  findKind,
  isConfigurationError,
  isCredentialError,
  kindOf,
} from "./errors.ts";

class WrongPin extends Error {
  readonly kind = "credential";
}
class BadValue extends Error {
  readonly kind = "configuration";
}
class BadFlag extends Error {
  readonly kind = "usage";
}

Deno.test("exitCodeOf() maps each kind to its exit code and anything else to 1", () => {
  assert.equal(exitCodeOf(new WrongPin()), EXIT_CONFIG);
  assert.equal(exitCodeOf(new BadValue()), EXIT_CONFIG);
  assert.equal(exitCodeOf(new BadFlag()), EXIT_USAGE);
  assert.equal(exitCodeOf(new Error("network")), EXIT_FAILURE);
  assert.equal(exitCodeOf("thrown string"), EXIT_FAILURE);
  assert.equal(exitCodeOf(Object.assign(new Error("x"), { kind: "bogus" })), EXIT_FAILURE);
});

Deno.test("exitCodeOf() reads the error's own kind, not its causes'", () => {
  assert.equal(exitCodeOf(new Error("wrapped", { cause: new WrongPin() })), EXIT_FAILURE);
  assert.equal(kindOf(new Error("wrapped", { cause: new WrongPin() })), undefined);
});

Deno.test("isCredentialError() and isConfigurationError() look down the cause chain", () => {
  const pin = new WrongPin("PIN refused");
  const nested = new Error("connect failed", { cause: new Error("handshake", { cause: pin }) });
  assert.equal(isCredentialError(nested), true);
  assert.equal(isConfigurationError(nested), false);
  assert.equal(findKind(nested, "credential"), pin);
  assert.equal(isConfigurationError(new Error("x", { cause: new BadValue() })), true);
  assert.equal(isCredentialError(new Error("timeout")), false);
  assert.equal(isCredentialError(undefined), false);
});

Deno.test("findKind() stops at a bounded depth on a cyclic cause chain", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(findKind(a, "credential"), undefined);
});
