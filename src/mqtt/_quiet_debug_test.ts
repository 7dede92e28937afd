import assert from "node:assert/strict";
import { createRequire } from "node:module";
import "./connection.ts";

Deno.test("mqtt-packet's debug() is a shared no-op while DEBUG is unset", () => {
  if (Deno.env.get("DEBUG")) return; // then the real debug is kept on purpose
  const fromMqtt = createRequire(import.meta.resolve("mqtt"));
  const createDebug = createRequire(fromMqtt.resolve("mqtt-packet"))("debug") as (
    namespace: string,
  ) => { (...args: unknown[]): void; enabled: boolean };
  const parser = createDebug("mqtt-packet:parser");
  assert.equal(parser.enabled, false);
  assert.equal(parser, createDebug("mqtt-packet:writeToStream"));
  assert.equal(parser.length, 0, "no rest parameter: a call allocates nothing");
});
