/**
 * Entry point: parses argv, runs the command, and turns any error into one line on stderr and
 * an exit code (0 ok, 1 runtime failure, 2 usage, 78 configuration or credential). Stack
 * traces only at debug level.
 */
import { CommanderError } from "commander";
import { isLogEnabled, parseLogLevel, setLogLevel } from "../log.ts";
import { CliContext, type CliIo, denoIo, type GlobalOptions } from "./context.ts";
import { readCertificateCn } from "./device_id.ts";
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from "../errors.ts";
import { buildProgram } from "./program.ts";

export interface MainOptions {
  io?: CliIo;
  env?: Record<string, string>;
  readCertificateCn?: (path: string) => Promise<string | undefined>;
}

export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  const io = opts.io ?? denoIo;
  let globals: GlobalOptions = {};
  const ctx = new CliContext(
    io,
    opts.env ?? {},
    () => globals,
    opts.readCertificateCn ?? readCertificateCn,
  );
  const program = buildProgram(ctx);
  program.hook("preAction", (_cmd, action) => {
    globals = action.optsWithGlobals() as GlobalOptions;
    // One-shot commands print their result; their logs are noise unless asked for. The
    // services (run, p11-server) log what they do.
    const service = ["run", "p11-server"].includes(action.name());
    setLogLevel(parseLogLevel(globals.logLevel ?? (service ? "info" : "warn")));
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the message (or the help / version text).
      return e.code === "commander.helpDisplayed" || e.code === "commander.version"
        ? EXIT_OK
        : EXIT_USAGE;
    }
    if (!(e as { alreadyReported?: boolean }).alreadyReported) {
      io.stderr(`hsm-bridge: ${describe(e)}\n`);
    }
    return exitCodeOf(e);
  }
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (isLogEnabled("debug")) return e.stack ?? e.message;
  return e.message.split("\n")[0];
}
