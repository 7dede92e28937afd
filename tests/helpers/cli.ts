/**
 * Runs `cli.ts` as a separate process, exactly as a user would run the compiled binary, with
 * the permission set that `deno task compile` bakes into it (deno.json
 * `permissions.hsm-bridge`), so a missing permission fails here too, and with the V8 flags
 * that task bakes in (its `--v8-flags=`: heap sizing, `gc()` for the idle memory release).
 */
import denoJson from "../../deno.json" with { type: "json" };
import { run, TestProcess } from "./process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const CLI_PATH = `${ROOT}cli.ts`;

type PermissionValue = boolean | string[] | { allow?: boolean | string[]; deny?: string[] };

/** deno.json's `permissions.hsm-bridge` as command line flags (`--allow-read`, ...). */
export function permissionFlags(): string[] {
  const set = (denoJson as { permissions: Record<string, Record<string, PermissionValue>> })
    .permissions["hsm-bridge"];
  const flags: string[] = [];
  for (const [name, value] of Object.entries(set)) {
    const allow = typeof value === "object" && !Array.isArray(value) ? value.allow : value;
    if (allow === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(allow) && allow.length) flags.push(`--allow-${name}=${allow.join(",")}`);
    if (typeof value === "object" && !Array.isArray(value) && value.deny?.length) {
      flags.push(`--deny-${name}=${value.deny.join(",")}`);
    }
  }
  return flags;
}

/** The compile task's `--v8-flags=...` (deno.json, the one place they are written), if any. */
export function v8Flags(): string[] {
  const task = (denoJson.tasks as Record<string, { command: string }>).compile.command;
  const flag = /(?:^|\s)(--v8-flags=\S+)/.exec(task)?.[1];
  return flag ? [flag] : [];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
  /** Deno flags after the shipped ones (`--deny-ffi` to prove no native code loads). */
  denoFlags?: string[];
  /** Turns the command line into the one to run (hsm-bridge inside another command). */
  wrap?: (argv: string[]) => string[];
}

/** `deno run` arguments for `hsm-bridge ARGS...`; `denoFlags` come after the shipped ones. */
function denoArgs(args: string[], denoFlags: string[] = []): string[] {
  return [
    "run",
    "--quiet",
    "--no-prompt",
    ...v8Flags(),
    ...denoFlags,
    ...permissionFlags(),
    CLI_PATH,
    ...args,
  ];
}

/** The whole command line of `hsm-bridge ARGS...` (for running it inside another command). */
export function cliArgv(args: string[], denoFlags: string[] = []): string[] {
  return [Deno.execPath(), ...denoArgs(args, denoFlags)];
}

/** Runs `hsm-bridge ARGS...` to completion. The environment is exactly `env` (+ PATH, HOME). */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const [cmd, ...rest] = (opts.wrap ?? ((a) => a))(cliArgv(args, opts.denoFlags));
  return run(cmd, rest, {
    cwd: opts.cwd ?? ROOT,
    env: baseEnv(opts.env),
    clearEnv: true,
    stdin: opts.stdin,
    allowFailure: true,
  });
}

/**
 * Starts `hsm-bridge ARGS...` in the background (for `run`); stop it by handle. `denoFlags`
 * adds diagnosis flags (`--cpu-prof`, `--inspect`, more `--v8-flags`) to the shipped ones.
 */
export function startCli(
  args: string[],
  opts: CliOptions & { echo?: boolean } = {},
): TestProcess {
  return new TestProcess(Deno.execPath(), denoArgs(args, opts.denoFlags), {
    cwd: opts.cwd ?? ROOT,
    env: baseEnv(opts.env),
    clearEnv: true,
    echo: opts.echo,
  });
}

function baseEnv(env: Record<string, string> = {}): Record<string, string> {
  const keep: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) keep[name] = v;
  }
  return { ...keep, ...env };
}

/** The DER SPKI of the public key `hsm create-key` printed (PEM) in `stdout`. */
export function printedPublicKey(stdout: string): Uint8Array {
  const pem = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(stdout);
  if (!pem) throw new Error(`no public key in:\n${stdout}`);
  return Uint8Array.from(atob(pem[0].replace(/-----[^-]+-----|\s/g, "")), (c) => c.charCodeAt(0));
}
