/**
 * The commander program: global options and every command group. Each group lives in its own
 * file and is added here with one `register...(program, ctx)` line.
 */
import { Command, Option } from "commander";
import { LOG_LEVELS } from "../log.ts";
import { registerCert } from "./cert.ts";
import { registerCheckKey } from "./check_key.ts";
import { registerCheckTls } from "./check_tls.ts";
import { registerConfig } from "./config_cmd.ts";
import { registerHsm } from "./hsm.ts";
import { registerP11Server } from "./p11_server.ts";
import { registerOutbox } from "./outbox_cmd.ts";
import { registerRun } from "./run.ts";
import type { CliContext } from "./context.ts";
import { VERSION } from "./version.ts";

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("hsm-bridge")
    .description(
      "thin-edge.io's Cumulocity bridge with the device key kept on a PKCS#11 token",
    )
    .version(VERSION, "-V, --version")
    .option(
      "-c, --config <file>",
      "config file (default: $TEDGE_CONFIG_DIR/tedge.toml or /etc/tedge/tedge.toml)",
    )
    .addOption(
      new Option("--log-level <level>", "log level (default: info for run, warn otherwise)")
        .choices([...LOG_LEVELS]),
    )
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true });

  registerConfig(program, ctx);
  registerHsm(program, ctx);
  registerCert(program, ctx);
  registerCheckKey(program, ctx);
  registerRun(program, ctx);
  registerOutbox(program, ctx);
  registerCheckTls(program, ctx);
  registerP11Server(program, ctx);

  // Every command accepts --help and --version, and the global options before or after it.
  for (const cmd of allCommands(program)) {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      // Usage errors in the same one-line form as every other error.
      outputError: (s, write) =>
        write(
          `hsm-bridge: ${s.trim().replace(/^error: /, "").replace(/\n+/g, " ")} (see --help)\n`,
        ),
    });
  }
  return program;
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}
