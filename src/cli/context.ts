/**
 * What every command gets: the config file path (from --config, TEDGE_CONFIG_DIR or the
 * default), the typed config, and where to print. Only the CLI reads configuration; it hands
 * typed option objects to the other areas.
 */
import { ConfigError, loadConfig, type TedgeConfig } from "../config/mod.ts";

export const DEFAULT_CONFIG_DIR = "/etc/tedge";

export interface CliIo {
  /** Writes text to stdout as is (add the newline yourself). */
  stdout(text: string): void;
  stderr(text: string): void;
}

export const denoIo: CliIo = {
  stdout: (text) => writeAll(Deno.stdout, text),
  stderr: (text) => writeAll(Deno.stderr, text),
};

function writeAll(target: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += target.writeSync(bytes.subarray(off));
}

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

export class CliContext {
  #config?: Promise<TedgeConfig>;

  constructor(
    readonly io: CliIo,
    readonly env: Record<string, string>,
    /** Reads the global options as parsed so far (commander fills them in). */
    readonly globals: () => GlobalOptions,
    /** Reads a certificate's CN for device.id (undefined when unreadable). */
    readonly readCertificateCn?: (path: string) => Promise<string | undefined>,
  ) {}

  /** `--config FILE`, else `$TEDGE_CONFIG_DIR/tedge.toml`, else `/etc/tedge/tedge.toml`. */
  configPath(): string {
    const explicit = this.globals().config;
    if (explicit) return explicit;
    const dir = this.env.TEDGE_CONFIG_DIR || DEFAULT_CONFIG_DIR;
    return `${dir.replace(/\/+$/, "") || "/"}/tedge.toml`.replace("//", "/");
  }

  /**
   * The typed config, loaded once per process. A missing default file means "all defaults", as
   * in thin-edge; a file named with --config that does not exist is a mistake worth saying.
   */
  loadConfig(): Promise<TedgeConfig> {
    this.#config ??= (async () => {
      const path = this.configPath();
      if (this.globals().config) await assertFileExists(path);
      return await loadConfig({ path, env: this.env, readCertificateCn: this.readCertificateCn });
    })();
    return this.#config;
  }

  /** Forgets the loaded config (after `config set` changed the file). */
  reloadConfig(): void {
    this.#config = undefined;
  }

  /** Prints one line (or several) on stdout. */
  print(text: string): void {
    this.io.stdout(text.endsWith("\n") ? text : text + "\n");
  }

  printJson(value: unknown): void {
    this.print(JSON.stringify(value, null, 2));
  }
}

async function assertFileExists(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return; // reading it will say what is wrong
    throw new ConfigError(
      `Config file "${path}" does not exist: check --config, or create it with ` +
        `"hsm-bridge config set KEY VALUE --config ${path}"`,
    );
  }
}
