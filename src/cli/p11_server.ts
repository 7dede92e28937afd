/**
 * `hsm-bridge p11-server`: a drop-in for thin-edge's tedge-p11-server, with its flags and
 * environment. Each setting, first match wins (an empty value counts as unset):
 *
 *   --socket-path  TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH  device.cryptoki.socket_path  ./tedge-p11-server.sock
 *   --module-path  TEDGE_DEVICE_CRYPTOKI_MODULE_PATH  device.cryptoki.module_path  (required)
 *   --pin          TEDGE_DEVICE_CRYPTOKI_PIN          device.cryptoki.pin          123456
 *   --uri          TEDGE_DEVICE_CRYPTOKI_URI          device.cryptoki.uri          (none)
 *
 * tedge.toml is `--config`, else `<--config-dir or TEDGE_CONFIG_DIR or /etc/tedge>/tedge.toml`;
 * one that cannot be read only costs a warning, as in tedge-p11-server. Under systemd socket
 * activation the passed socket is used and --socket-path is only for messages.
 */
import type { Command } from "commander";
import { type ConfigKey, envName, loadConfig, type TedgeConfig } from "../config/mod.ts";
import { KeyConfigError, KeyUri, KeyUriError, Secret } from "../keys/mod.ts";
import { getLogger } from "../log.ts";
import { activationFromEnv, startP11Server } from "../p11_server/mod.ts";
import { DEFAULT_CONFIG_DIR } from "./context.ts";
import type { CliContext } from "./context.ts";

const log = getLogger("p11-server");

/** tedge-p11-server's fallbacks when neither a flag, the environment nor tedge.toml sets one. */
const DEFAULT_SOCKET_PATH = "./tedge-p11-server.sock";
const DEFAULT_PIN = "123456";

interface P11ServerFlags {
  socketPath?: string;
  modulePath?: string;
  pin?: string;
  uri?: string;
  configDir?: string;
}

export function registerP11Server(program: Command, ctx: CliContext): void {
  program.command("p11-server")
    .description(
      "Serve the PKCS#11 token to tedge and hsm-bridge in socket mode over a Unix socket " +
        "(a drop-in for tedge-p11-server) until SIGTERM or SIGINT",
    )
    .option("--socket-path <path>", `socket to create [env: ${env("socket_path")}]`)
    .option("--module-path <path>", `PKCS#11 module [env: ${env("module_path")}]`)
    .option("--pin <pin>", `user PIN of the token [env: ${env("pin")}]`)
    .option("--uri <uri>", `PKCS#11 URI that limits which token/key is used [env: ${env("uri")}]`)
    .option("--config-dir <dir>", "directory of tedge.toml [env: TEDGE_CONFIG_DIR]")
    .action(async (flags: P11ServerFlags) => {
      await serve(ctx, flags);
    });
}

function env(setting: string): string {
  return envName(`device.cryptoki.${setting}` as ConfigKey);
}

async function readToml(ctx: CliContext, flags: P11ServerFlags): Promise<TedgeConfig | undefined> {
  const dir = flags.configDir || ctx.env.TEDGE_CONFIG_DIR || DEFAULT_CONFIG_DIR;
  const path = ctx.globals().config ?? `${dir.replace(/\/+$/, "")}/tedge.toml`;
  try {
    await Deno.stat(path);
  } catch {
    return undefined; // like tedge-p11-server: no file, no warning
  }
  // An empty variable counts as unset and falls back to tedge.toml, as in tedge-p11-server
  // (the config store would let it unset the file's value too).
  const settings = ["socket_path", "module_path", "pin", "uri"].map(env);
  const environment = Object.fromEntries(
    Object.entries(ctx.env).filter(([k, v]) => v !== "" || !settings.includes(k)),
  );
  try {
    return await loadConfig({ path, env: environment });
  } catch (e) {
    log.warn("Cannot read tedge.toml; using flags and environment only", {
      path,
      reason: (e as Error).message,
    });
    return undefined;
  }
}

async function serve(ctx: CliContext, flags: P11ServerFlags): Promise<void> {
  const config = await readToml(ctx, flags);
  // A flag, else the environment or the file (config.get reads both), else the fallback.
  const setting = (flag: string | undefined, key: ConfigKey): string | undefined => {
    if (flag) return flag;
    if (config) {
      if (config.source(key) === "default") return undefined;
      const v = config.get(key) as string | Secret | undefined;
      return v instanceof Secret ? v.expose() : v;
    }
    return ctx.env[envName(key)] || undefined;
  };
  const modulePath = setting(flags.modulePath, "device.cryptoki.module_path");
  if (!modulePath) {
    throw new KeyConfigError(
      `No PKCS#11 module for p11-server: pass --module-path, set ` +
        `TEDGE_DEVICE_CRYPTOKI_MODULE_PATH or device.cryptoki.module_path in tedge.toml`,
    );
  }
  let socketPath = setting(flags.socketPath, "device.cryptoki.socket_path");
  if (!socketPath) {
    socketPath = DEFAULT_SOCKET_PATH;
    log.warn("No socket path set; using the default", { socket: socketPath });
  }
  const pinText = setting(flags.pin, "device.cryptoki.pin");
  if (!pinText) log.warn("No PIN set; using the default");
  const uriText = setting(flags.uri, "device.cryptoki.uri");
  let uri: KeyUri | undefined;
  try {
    uri = uriText ? KeyUri.parse(uriText) : undefined;
  } catch (e) {
    if (!(e instanceof KeyUriError)) throw e;
    throw new KeyConfigError(`Invalid --uri for p11-server: ${e.message}`, { cause: e });
  }
  const activation = activationFromEnv(ctx.env, Deno.pid);
  log.info("Starting hsm-bridge p11-server", {
    module: modulePath,
    uri: uri?.toString() ?? "(none)",
    socket: activation ? `fd ${activation.fd} from systemd` : socketPath,
  });
  const running = await startP11Server({
    socketPath,
    activation,
    modulePath,
    pin: new Secret(pinText ?? DEFAULT_PIN),
    uri,
  });
  await untilSignal();
  log.info("Stopping on signal");
  await running.stop();
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const done = () => {
      for (const s of signals) Deno.removeSignalListener(s, done);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, done);
  });
}
