/**
 * tedge.toml: the schema of every key hsm-bridge reads, value parsers, the typed read-only
 * config object, and the store (the only code that writes files).
 */
export { assertKnownKey, displayValue, loadConfig, TedgeConfig } from "./config.ts";
export type { LoadConfigOptions, ValueSource } from "./config.ts";
export { ConfigError, UnknownKeyError } from "./errors.ts";
export {
  formatDuration,
  formatHostPort,
  parseDuration,
  parseHost,
  parseHostPort,
} from "./parsers.ts";
export type { HostPort, TomlValue } from "./parsers.ts";
export { envName, keySpec, SCHEMA, suggestKeys } from "./schema.ts";
export type { ConfigKey, ConfigValues, CryptokiMode, KeySpec } from "./schema.ts";
export { parseConfigValue } from "./set_value.ts";
export { setConfigValue, unsetConfigValue, writeFileAtomic } from "./store.ts";
