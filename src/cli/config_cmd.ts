/** `hsm-bridge config get|set|unset|list`: tedge's config command on the same file. */
import type { Command } from "commander";
import {
  assertKnownKey,
  ConfigError,
  displayValue,
  envName,
  keySpec,
  parseConfigValue,
  SCHEMA,
  setConfigValue,
  unsetConfigValue,
} from "../config/mod.ts";
import type { CliContext } from "./context.ts";

/** The value `config get` of an unset key reports; exit 1, as tedge does. */
export class KeyNotSetError extends Error {
  constructor(readonly key: string) {
    super(`The provided config key: '${key}' is not set`);
    this.name = "KeyNotSetError";
  }
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program.command("config").description("Read and edit tedge.toml");

  config.command("get").argument("<key>", "config key, e.g. c8y.url")
    .description("Print the value of a key (defaults included)")
    .action(async (key: string) => {
      assertKnownKey(key);
      const value = (await ctx.loadConfig()).format(key);
      if (value === undefined) throw new KeyNotSetError(key);
      ctx.print(value);
    });

  config.command("set").argument("<key>", "config key").argument("<value>", "new value")
    .description("Set a key in the config file (comments and formatting are kept)")
    .action(async (key: string, value: string) => {
      assertKnownKey(key);
      await setConfigValue(ctx.configPath(), key, parseConfigValue(key, value));
      ctx.reloadConfig();
    });

  config.command("unset").argument("<key>", "config key")
    .description("Remove a key from the config file (its default applies again)")
    .action(async (key: string) => {
      assertKnownKey(key);
      await unsetConfigValue(ctx.configPath(), key);
      ctx.reloadConfig();
    });

  config.command("list").argument("[filter]", "only keys containing this text")
    .description("Print key=value for each key that has a value")
    .option("--all", "also list keys without a value")
    .option("--doc", "print each key's documentation and an example")
    .option("--show-secrets", "print PINs instead of ********")
    .action(async (filter: string | undefined, opts: ListOptions) => {
      const specs = SCHEMA.filter((s) => !filter || s.key.includes(filter));
      if (opts.doc) {
        ctx.print(specs.map((s) => docText(s.key)).join("\n"));
        return;
      }
      const cfg = await ctx.loadConfig();
      const lines: string[] = [];
      let invalid: ConfigError | undefined;
      for (const spec of specs) {
        let value: string | undefined;
        try {
          value = cfg.format(spec.key);
        } catch (e) {
          // Show the others, so that the bad one can be found and fixed with set or unset.
          if (!(e instanceof ConfigError)) throw e;
          invalid ??= e;
          ctx.io.stderr(`hsm-bridge: ${e.message}\n`);
          continue;
        }
        if (value === undefined && !opts.all) continue;
        lines.push(
          `${spec.key}=${
            value === undefined ? "" : displayValue(spec.key, value, opts.showSecrets)
          }`,
        );
      }
      if (lines.length) ctx.print(lines.join("\n"));
      if (invalid) throw new ListedError(invalid);
    });
}

/** A config error already printed by `config list`: exit 78 without printing it again. */
class ListedError extends Error {
  readonly kind = "configuration";
  readonly alreadyReported = true;
  constructor(cause: ConfigError) {
    super(cause.message, { cause });
    this.name = "ListedError";
  }
}

interface ListOptions {
  all?: boolean;
  doc?: boolean;
  showSecrets?: boolean;
}

/** One key's entry in `config list --doc` (and in docs/configuration.md). */
export function docText(key: string): string {
  const spec = keySpec(key)!;
  const lines = [spec.key, `    ${spec.doc}`];
  if (spec.default !== undefined) lines.push(`    Default: ${spec.default || '""'}`);
  if (spec.derivedDefault) lines.push(`    Default: ${spec.derivedDefault}`);
  lines.push(`    Example: hsm-bridge config set ${spec.key} ${spec.example}`);
  lines.push(`    Environment: ${envName(spec.key)}`);
  if (spec.legacy) {
    lines.push("    Legacy key, kept for configurations written by the seed project.");
  }
  if (spec.extension) {
    lines.push(
      "    hsm-bridge extension: thin-edge does not read this key (it may warn that it does not know it).",
    );
  }
  return lines.join("\n") + "\n";
}
