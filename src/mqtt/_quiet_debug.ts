/**
 * Silences the `debug` package for mqtt.js and mqtt-packet, unless `DEBUG` is set.
 *
 * mqtt-packet's parser and writer call `debug(...)` 20-30 times per bridged message. Each call
 * builds a rest-arguments array before `debug` checks whether it is enabled: 4 KB of garbage
 * per message, a third of all the bridge allocated (bench/memory_probe.ts --alloc). mqtt.js's
 * own logging goes through its `log` option instead (connection.ts passes a no-op), but
 * mqtt-packet has no such option: it captures `require("debug")(namespace)` when it loads.
 *
 * So this module must be evaluated before mqtt.js is: it replaces the `debug` module's
 * export in the CommonJS module cache by a factory that returns one shared no-op function.
 * Import it first, for its side effect only. With `DEBUG=...` set (troubleshooting), or if
 * the module cannot be found, everything stays as it was.
 */
import { createRequire } from "node:module";

interface RequireWithCache {
  (id: string): unknown;
  resolve(id: string): string;
  cache: Record<string, { exports: unknown } | undefined>;
}

function debugWanted(): boolean {
  try {
    return !!Deno.env.get("DEBUG");
  } catch {
    return false; // no env permission: nobody asked for debug output
  }
}

function quietDebug(): void {
  // Resolve `debug` as mqtt-packet does (it is not one of our direct dependencies).
  const fromMqtt = createRequire(import.meta.resolve("mqtt")) as unknown as RequireWithCache;
  const fromPacket = createRequire(fromMqtt.resolve("mqtt-packet")) as unknown as RequireWithCache;
  const path = fromPacket.resolve("debug");
  const original = fromPacket("debug") as (namespace: string) => unknown;
  const entry = fromPacket.cache[path];
  if (!entry || entry.exports !== original) return;
  const silent = Object.assign(() => {}, {
    enabled: false,
    namespace: "",
    extend: () => silent,
    log: () => {},
    destroy: () => true,
  });
  entry.exports = Object.assign((_namespace: string) => silent, original);
}

if (!debugWanted()) {
  try {
    quietDebug();
  } catch {
    // Only a cost: mqtt.js works the same with the real `debug`.
  }
}
