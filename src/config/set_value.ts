import { ConfigError } from "./errors.ts";
import { displayValue } from "./config.ts";
import type { TomlValue, ValueType } from "./parsers.ts";
import type { ConfigKey } from "./schema.ts";
import { keySpec } from "./schema.ts";

/**
 * Parses what a user typed for `config set KEY VALUE` into the value written to the file.
 * A bad value is a ConfigError naming the key, the value (masked for secrets) and what is
 * expected.
 */
export function parseConfigValue(key: ConfigKey, text: string): TomlValue {
  const spec = keySpec(key)!;
  const type = spec.type as ValueType<unknown>;
  try {
    const value = type.fromString(text);
    return type.keepsText ? text.trim() : type.toToml(value);
  } catch (e) {
    const shown = displayValue(key, text);
    throw new ConfigError(`Invalid value "${shown}" for "${key}": ${(e as Error).message}`, {
      key,
      cause: e,
    });
  }
}
