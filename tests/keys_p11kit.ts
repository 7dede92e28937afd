/**
 * `p11-kit server` for tests, exporting SoftHSM's tokens on a unix socket. The server forks one
 * child per client connection and does not stop those children when it is killed, so `stop()`
 * kills the children of our own server process first (their PIDs read from /proc), then the
 * server by its handle; the server reaps the children.
 */
import { type SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";
import { TestProcess } from "./helpers/process.ts";

export class P11KitServer {
  private constructor(
    readonly proc: TestProcess,
    /** `unix:path=...`, as the server printed it. */
    readonly address: string,
    readonly socketPath: string,
  ) {}

  /** Starts a server for every token of `hsm` on `socketPath`; resolves once it listens. */
  static async start(hsm: SoftHsm, socketPath: string): Promise<P11KitServer> {
    await Deno.remove(socketPath).catch(() => {});
    const proc = new TestProcess(
      "p11-kit",
      ["server", "--provider", SOFTHSM_MODULE, "-f", "--name", socketPath, "pkcs11:"],
      { env: hsm.env },
    );
    try {
      const m = await proc.waitForOutput(/P11_KIT_SERVER_ADDRESS=([^;\s]+);/);
      return new P11KitServer(proc, m[1], socketPath);
    } catch (e) {
      await proc.stop();
      throw e;
    }
  }

  /** PIDs of the per-connection children. */
  children(): number[] {
    try {
      const text = Deno.readTextFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`);
      return text.trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Pauses (SIGSTOP) or resumes (SIGCONT) the connection children: a token that hangs. */
  signalChildren(signal: Deno.Signal): void {
    for (const pid of this.children()) Deno.kill(pid, signal);
  }

  async stop(): Promise<void> {
    for (const pid of this.children()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    // Give the server a moment to reap them before it goes.
    await new Promise((r) => setTimeout(r, 100));
    await this.proc.stop("SIGTERM");
    await Deno.remove(this.socketPath).catch(() => {});
  }
}
