/**
 * stunnel4 as a TLS 1.2-only terminator in front of a plain TCP service (a mosquitto without
 * TLS): what an older load balancer or on-premises broker looks like to hsm-bridge. Debian 12's
 * mosquitto cannot be held to TLS 1.2 itself (`tls_version tlsv1.2` is a minimum).
 */
import { freePort, waitForPort } from "./ports.ts";
import { TestProcess } from "./process.ts";
import type { ServerCredentials } from "./tls_servers.ts";

export interface StunnelOptions {
  /** Directory for the configuration file (must exist). */
  dir: string;
  /** The plain service behind it, on 127.0.0.1. */
  connectPort: number;
  creds: ServerCredentials;
  /** Require a client certificate that chains to creds.caPath (default true). */
  requireCertificate?: boolean;
  /** Highest version offered (default TLSv1.2). */
  versionMax?: "TLSv1.2" | "TLSv1.3";
}

export class Stunnel implements AsyncDisposable {
  private constructor(readonly port: number, readonly process: TestProcess) {}

  static async start(opts: StunnelOptions): Promise<Stunnel> {
    const port = freePort();
    const path = `${opts.dir}/stunnel-${port}.conf`;
    const lines = [
      "foreground = yes",
      "pid =",
      "debug = info",
      "[tls12]",
      `accept = 127.0.0.1:${port}`,
      `connect = 127.0.0.1:${opts.connectPort}`,
      `cert = ${opts.creds.certPath}`,
      `key = ${opts.creds.keyPath}`,
      `CAfile = ${opts.creds.caPath}`,
      `sslVersionMax = ${opts.versionMax ?? "TLSv1.2"}`,
    ];
    if (opts.requireCertificate ?? true) lines.push("verifyChain = yes", "requireCert = yes");
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const process = new TestProcess("stunnel4", [path]);
    try {
      await process.waitForOutput(/Configuration successful/, 10_000);
      await waitForPort(port);
    } catch (e) {
      await process.stop("SIGKILL");
      throw new Error(`stunnel did not start:\n${process.output}`, { cause: e });
    }
    return new Stunnel(port, process);
  }

  /** Everything stunnel logged (connections, the negotiated version and cipher, errors). */
  get log(): string {
    return this.process.output;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
