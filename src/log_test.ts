import assert from "node:assert/strict";
import {
  formatLogLine,
  getLogger,
  getLogLevel,
  parseLogLevel,
  setLogLevel,
  setLogSink,
} from "./log.ts";
import { Secret } from "./secret.ts";

Deno.test("formatLogLine() writes time, level, area, message and fields", () => {
  const line = formatLogLine("warn", "bridge", "dropped message", {
    topic: "c8y/s/us",
    size: 20000,
    reason: "too large",
  }, new Date("2026-01-02T03:04:05.678Z"));
  assert.equal(
    line,
    '2026-01-02T03:04:05.678Z WARN  bridge: dropped message topic=c8y/s/us size=20000 reason="too large"',
  );
});

Deno.test("formatLogLine() redacts a Secret, also inside objects", () => {
  const pin = new Secret("987654");
  const line = formatLogLine("info", "pkcs11", "login", { pin, nested: { pin } });
  assert.ok(!line.includes("987654"), line);
  assert.match(line, /pin=\[redacted\] nested=\{ pin: \[redacted\] \}/);
});

Deno.test("Logger honours the level and the sink", () => {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  const previousLevel = getLogLevel();
  try {
    setLogLevel("warn");
    const log = getLogger("test");
    log.info("hidden");
    log.debug("hidden");
    log.warn("shown");
    log.error("shown too");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /WARN {2}test: shown$/);
  } finally {
    setLogSink(previousSink);
    setLogLevel(previousLevel);
  }
});

Deno.test("parseLogLevel() accepts known levels and names the accepted ones otherwise", () => {
  assert.equal(parseLogLevel("DEBUG"), "debug");
  assert.throws(() => parseLogLevel("loud"), {
    name: "RangeError",
    message: 'Invalid log level "loud": expected one of error, warn, info, debug, trace',
  });
});
