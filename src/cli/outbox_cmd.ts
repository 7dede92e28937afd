/**
 * `hsm-bridge outbox status [--json]`: what the store-and-forward outbox holds (messages not
 * yet acknowledged by the cloud, the oldest one's age, bytes), read-only, also while `run` is
 * running.
 */
import type { Command } from "commander";
import { readOutboxStatus } from "../outbox/mod.ts";
import { outboxPath } from "./_outbox.ts";
import type { CliContext } from "./context.ts";

interface StatusOptions {
  json?: boolean;
}

export function registerOutbox(program: Command, ctx: CliContext): void {
  const outbox = program.command("outbox").description(
    "The store-and-forward outbox (cloud-bound)",
  );

  outbox.command("status")
    .description("Messages waiting for the cloud: count, oldest age, bytes")
    .option("--json", "print JSON")
    .action(async (opts: StatusOptions) => {
      const config = await ctx.loadConfig();
      const path = outboxPath(config);
      const enabled = config.get("c8y.bridge.outbox.enable") !== false;
      const maxBytes = config.require("c8y.bridge.outbox.max_size");
      const s = readOutboxStatus(path);
      const now = Date.now();
      const oldestAgeSeconds = s.oldestStoredAt === undefined
        ? null
        : Math.max(0, Math.round((now - s.oldestStoredAt) / 1000));
      if (opts.json) {
        return ctx.printJson({
          path,
          enabled,
          exists: s.exists,
          messages: s.depth,
          oldestAgeSeconds,
          oldestStoredAt: s.oldestStoredAt === undefined
            ? null
            : new Date(s.oldestStoredAt).toISOString(),
          bytes: s.bytes,
          maxBytes,
          fileBytes: s.fileBytes,
        });
      }
      const rows: [string, string][] = [
        ["outbox", `${path}${s.exists ? "" : " (not created yet)"}`],
        ["enabled", String(enabled)],
        ["messages", String(s.depth)],
        [
          "oldest",
          s.oldestStoredAt === undefined
            ? "-"
            : `${oldestAgeSeconds} s ago (${new Date(s.oldestStoredAt).toISOString()})`,
        ],
        ["stored", `${s.bytes} bytes of ${maxBytes} (${percent(s.bytes, maxBytes)})`],
        ["on disk", `${s.fileBytes} bytes (file and WAL)`],
      ];
      ctx.print(rows.map(([k, v]) => `${k.padEnd(9)}${v}`).join("\n"));
    });
}

function percent(n: number, of: number): string {
  return `${(100 * n / of).toFixed(n && n < of / 1000 ? 2 : 1)}%`;
}
