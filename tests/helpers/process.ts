/**
 * Child processes for tests: started with Deno.Command, output kept in memory, stopped by
 * handle (PID 1 here does not reap orphans, so every child is killed and awaited).
 */

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Keep stdin open as a pipe (to send `k` to openssl s_server, say). */
  stdin?: boolean;
  /** Echo the child's output to the test's stderr as it arrives (debugging). */
  echo?: boolean;
  /** Start from an empty environment (only `env`). */
  clearEnv?: boolean;
}

export class TestProcess {
  readonly child: Deno.ChildProcess;
  #output = "";
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  #stdin?: WritableStreamDefaultWriter<Uint8Array>;
  #pumps: Promise<void>[];
  #status?: Deno.CommandStatus;
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(readonly name: string, readonly args: string[], opts: StartOptions = {}) {
    this.child = new Deno.Command(name, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      clearEnv: opts.clearEnv,
      stdin: opts.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (opts.stdin) this.#stdin = this.child.stdin.getWriter();
    this.#pumps = [
      this.#pump(this.child.stdout, opts.echo),
      this.#pump(this.child.stderr, opts.echo),
    ];
    this.exited = this.child.status.then(async (s) => {
      await Promise.allSettled(this.#pumps);
      this.#status = s;
      return s;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>, echo?: boolean): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      if (echo) await Deno.stderr.write(chunk);
      this.#output += dec.decode(chunk, { stream: true });
      if (this.#output.length > 4_000_000) this.#output = this.#output.slice(-2_000_000);
      this.#waiters = this.#waiters.filter((w) => {
        const m = this.#output.match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Everything the process wrote to stdout and stderr so far, interleaved. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  /** Waits until the output matches `re`; throws with the output so far after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const m = this.#output.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `${this.name}: no output matching ${re} after ${timeoutMs} ms:\n${this.#output}`,
          ),
        );
      }, timeoutMs);
      const done = (mm: RegExpMatchArray) => {
        clearTimeout(timer);
        resolve(mm);
      };
      this.#waiters.push({ re, resolve: done });
      this.exited.then(() => {
        if (this.#waiters.some((w) => w.resolve === done)) {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
          reject(new Error(`${this.name} exited before printing ${re}:\n${this.#output}`));
        }
      });
    });
  }

  async write(text: string): Promise<void> {
    if (!this.#stdin) throw new Error(`${this.name} was started without stdin`);
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Sends `signal` (SIGTERM by default) and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5_000): Promise<Deno.CommandStatus> {
    if (this.#stdin) await this.#stdin.close().catch(() => {});
    if (this.running) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return await this.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Runs a command to completion; throws with its output when it fails (unless `allowFailure`). */
export async function run(
  cmd: string,
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string>;
    stdin?: Uint8Array | string;
    allowFailure?: boolean;
    /** Start from an empty environment (only `env`). */
    clearEnv?: boolean;
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    clearEnv: opts.clearEnv,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  const result = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (result.code !== 0 && !opts.allowFailure) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${result.code}:\n${result.stdout}${result.stderr}`,
    );
  }
  return result;
}

/** A temporary directory removed (recursively) when disposed. */
export async function tempDir(prefix = "hsm-bridge-test-"): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
