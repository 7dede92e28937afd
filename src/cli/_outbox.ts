/**
 * The outbox as configured (c8y.bridge.outbox.*): where it is, and opening it for `run`.
 */
import { ConfigError, type TedgeConfig } from "../config/mod.ts";
import { getLogger } from "../log.ts";
import { Outbox } from "../outbox/mod.ts";

/** The outbox file of the configuration. */
export function outboxPath(config: TedgeConfig): string {
  return `${config.require("c8y.bridge.outbox.dir").replace(/\/+$/, "")}/outbox.db`;
}

/**
 * Opens the configured outbox (creating its directory), or undefined when it is off. A file
 * that cannot be read as an outbox is moved aside (Outbox.open logs it); a directory or file
 * that cannot be created or opened is a configuration error (exit 78).
 */
export function openConfiguredOutbox(config: TedgeConfig): Outbox | undefined {
  const log = getLogger("outbox");
  if (config.get("c8y.bridge.outbox.enable") === false) {
    log.info(
      "Outbox off (c8y.bridge.outbox.enable is false): local messages are acknowledged " +
        "when the cloud acknowledged them",
    );
    return undefined;
  }
  const dir = config.require("c8y.bridge.outbox.dir");
  const fix = "set c8y.bridge.outbox.dir to a directory the bridge can write, " +
    "or c8y.bridge.outbox.enable to false";
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ConfigError(
      `Cannot create the outbox directory "${dir}": ${(e as Error).message}: ${fix}`,
      { key: "c8y.bridge.outbox.dir", cause: e },
    );
  }
  const path = outboxPath(config);
  try {
    return Outbox.open({
      path,
      maxBytes: config.require("c8y.bridge.outbox.max_size"),
      maxAgeMs: config.get("c8y.bridge.outbox.max_age"),
      log,
    });
  } catch (e) {
    throw new ConfigError(`Cannot open the outbox "${path}": ${(e as Error).message}: ${fix}`, {
      key: "c8y.bridge.outbox.dir",
      cause: e,
    });
  }
}
