/** Errors of the config area. Each says what failed first, the offending value quoted. */

/** A bad configuration value or file: exit 78 (EX_CONFIG). */
export class ConfigError extends Error {
  readonly kind = "configuration";
  /** The config key concerned, when there is one. */
  readonly key?: string;

  constructor(message: string, options: { key?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "ConfigError";
    this.key = options.key;
  }
}

/** A key hsm-bridge does not know: a usage error (exit 2), with the closest keys suggested. */
export class UnknownKeyError extends Error {
  readonly kind = "usage";

  constructor(readonly key: string, readonly suggestions: readonly string[]) {
    const hint = suggestions.length
      ? `: did you mean ${suggestions.map((s) => `"${s}"`).join(" or ")}?`
      : `: run "hsm-bridge config list --all" to see every key`;
    super(`Unknown config key "${key}"${hint}`);
    this.name = "UnknownKeyError";
  }
}
