/**
 * The typed, read-only view of tedge.toml that the rest of hsm-bridge is given.
 *
 * Where a value comes from, first match wins:
 * 1. `TEDGE_<KEY>` in the environment (an empty value unsets the key),
 * 2. the config file,
 * 3. a legacy key (`device.cryptoki.enable` for `device.cryptoki.mode`),
 * 4. a derived default (`device.id` from the certificate's CN, `c8y.mqtt` from `c8y.url`),
 * 5. the schema's default.
 * `device.id` is the exception COMPAT.md describes: the certificate's CN wins over any stored
 * value whenever the certificate can be read.
 */
import { ConfigError, UnknownKeyError } from "./errors.ts";
import type { HostPort } from "./parsers.ts";
import {
  type ConfigKey,
  type ConfigValues,
  envName,
  keySpec,
  SCHEMA,
  suggestKeys,
} from "./schema.ts";
import { lookupPath, parseToml, readConfigText } from "./store.ts";

export type ValueSource = "env" | "file" | "legacy" | "certificate" | "derived" | "default";

export interface LoadConfigOptions {
  path: string;
  /** Environment variables (default: none; the CLI passes Deno.env.toObject()). */
  env?: Record<string, string>;
  /** Reads the CN of a certificate file; undefined when it cannot be read. */
  readCertificateCn?: (certPath: string) => Promise<string | undefined>;
}

interface Raw {
  value: unknown;
  source: "env" | "file";
}

/** Throws UnknownKeyError (exit 2) for a key that is not in the schema. */
export function assertKnownKey(key: string): asserts key is ConfigKey {
  if (!keySpec(key)) throw new UnknownKeyError(key, suggestKeys(key));
}

export class TedgeConfig {
  readonly #raw = new Map<ConfigKey, Raw | null>();
  #certificateCn?: string;

  private constructor(
    /** The config file (it may not exist). */
    readonly path: string,
  ) {}

  /** The directory of the config file (`/etc/tedge`): rule files live below it. */
  get dir(): string {
    const i = this.path.lastIndexOf("/");
    return i < 0 ? "." : i === 0 ? "/" : this.path.slice(0, i);
  }

  static async load(opts: LoadConfigOptions): Promise<TedgeConfig> {
    const config = new TedgeConfig(opts.path);
    const table = parseToml(await readConfigText(opts.path), opts.path);
    for (const { key } of SCHEMA) {
      const fromEnv = opts.env?.[envName(key)];
      if (fromEnv !== undefined) {
        config.#raw.set(key, fromEnv === "" ? null : { value: fromEnv, source: "env" });
        continue;
      }
      const fromFile = lookupPath(table, key.split("."));
      if (fromFile !== undefined) config.#raw.set(key, { value: fromFile, source: "file" });
    }
    if (opts.readCertificateCn) {
      const certPath = config.get("device.cert_path");
      if (certPath) config.#certificateCn = await opts.readCertificateCn(certPath);
    }
    return config;
  }

  /** The typed value, or undefined when the key is unset and has no default. */
  get<K extends ConfigKey>(key: K): ConfigValues[K] | undefined {
    return this.#resolve(key)?.value;
  }

  /** Like get(), but an unset key is a ConfigError that says how to set it. */
  require<K extends ConfigKey>(key: K): ConfigValues[K] {
    const value = this.get(key);
    if (value === undefined) {
      throw new ConfigError(
        `Missing configuration "${key}": set it with "hsm-bridge config set ${key} ` +
          `<value>" (e.g. ${keySpec(key)!.example})`,
        { key },
      );
    }
    return value;
  }

  /** Where the effective value comes from, or undefined when the key is unset. */
  source(key: ConfigKey): ValueSource | undefined {
    return this.#resolve(key)?.source;
  }

  /**
   * The value as `config get` prints it (secrets included: the caller decides). Defaults, and
   * values whose type keeps the user's text (durations), are shown as written (`60s`, `90`).
   */
  format(key: ConfigKey): string | undefined {
    const r = this.#resolve(key);
    if (!r) return undefined;
    const spec = keySpec(key)!;
    if (r.source === "default") return spec.default;
    const raw = this.#raw.get(key)?.value;
    if (spec.type.keepsText && (typeof raw === "string" || typeof raw === "number")) {
      return String(raw).trim();
    }
    return (spec.type as { format(v: unknown): string }).format(r.value);
  }

  /**
   * Parses every key once, and checks the keys that depend on each other, so that a bad value
   * fails now (exit 78) rather than mid-run.
   */
  validate(): void {
    for (const { key } of SCHEMA) this.get(key);
    const initial = this.get("mqtt.bridge.reconnect_policy.initial_interval")!;
    const maximum = this.get("mqtt.bridge.reconnect_policy.maximum_interval")!;
    if (maximum < initial) {
      throw new ConfigError(
        `Invalid reconnect policy: "mqtt.bridge.reconnect_policy.maximum_interval" ` +
          `(${this.format("mqtt.bridge.reconnect_policy.maximum_interval")}) is below ` +
          `"mqtt.bridge.reconnect_policy.initial_interval" ` +
          `(${this.format("mqtt.bridge.reconnect_policy.initial_interval")}): raise the maximum`,
        { key: "mqtt.bridge.reconnect_policy.maximum_interval" },
      );
    }
  }

  #resolve<K extends ConfigKey>(
    key: K,
  ): { value: ConfigValues[K]; source: ValueSource } | undefined {
    const spec = keySpec(key)!;
    if (key === "device.id" && this.#certificateCn) {
      return { value: this.#certificateCn as ConfigValues[K], source: "certificate" };
    }
    // An empty TEDGE_* variable (null here) unsets the key as `config unset` does: the file's
    // value is ignored and the default applies again.
    const raw = this.#raw.get(key);
    if (raw) return { value: this.#parse(key, raw), source: raw.source };
    const derived = this.#derived(key);
    if (derived) return derived;
    if (spec.default === undefined) return undefined;
    return { value: spec.type.fromString(spec.default) as ConfigValues[K], source: "default" };
  }

  #derived<K extends ConfigKey>(
    key: K,
  ): { value: ConfigValues[K]; source: ValueSource } | undefined {
    if (key === "device.cryptoki.mode") {
      const enable = this.get("device.cryptoki.enable");
      if (enable === undefined) return undefined;
      return { value: (enable ? "module" : "off") as ConfigValues[K], source: "legacy" };
    }
    if (key === "c8y.mqtt") {
      const host = this.get("c8y.url");
      if (host === undefined) return undefined;
      return {
        value: { host, port: 8883 } satisfies HostPort as ConfigValues[K],
        source: "derived",
      };
    }
    return undefined;
  }

  #parse<K extends ConfigKey>(key: K, raw: Raw): ConfigValues[K] {
    const spec = keySpec(key)!;
    try {
      return (raw.source === "env"
        ? spec.type.fromString(String(raw.value))
        : spec.type.fromToml(raw.value)) as ConfigValues[K];
    } catch (e) {
      const where = raw.source === "env"
        ? `environment variable ${envName(key)}`
        : `config file "${this.path}"`;
      const shown = displayValue(key, String(raw.value));
      throw new ConfigError(
        `Invalid value "${shown}" for "${key}" in ${where}: ${(e as Error).message}`,
        { key, cause: e },
      );
    }
  }
}

/**
 * A value as listings and error messages may show it: PINs as `********`, a PIN inside a value
 * (a PKCS#11 URI's pin-value) blanked, unless `showSecrets`.
 */
export function displayValue(key: ConfigKey, text: string, showSecrets = false): string {
  if (showSecrets) return text;
  const spec = keySpec(key)!;
  if (spec.secret) return "********";
  return spec.type.redact?.(text) ?? text;
}

export function loadConfig(opts: LoadConfigOptions): Promise<TedgeConfig> {
  return TedgeConfig.load(opts);
}
