/**
 * Mosquitto brokers for tests, on a random loopback port, with optional TLS and persistence.
 * `restart()` keeps the port, the persistence file and the configuration, so clients see the
 * same broker come back.
 */
import { freePort, waitForPort } from "./ports.ts";
import { TestProcess } from "./process.ts";

export interface MosquittoTls {
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Ask for and require a client certificate (mutual TLS). Default true. */
  requireCertificate?: boolean;
  /** Default "tlsv1.3". */
  version?: "tlsv1.3" | "tlsv1.2";
}

export interface MosquittoOptions {
  /** Directory for the config, persistence file and log (must exist). */
  dir: string;
  port?: number;
  tls?: MosquittoTls;
  /** Keep sessions and messages across restarts (persistence true). Default false. */
  persistence?: boolean;
  /** More config lines appended to the listener. */
  extra?: string[];
  /**
   * Keep mosquitto's own max_queued_messages (1000), as on a device, instead of 100000: more
   * QoS 1 messages for a client that is offline or not acking are dropped.
   */
  deviceQueue?: boolean;
  echo?: boolean;
}

export class Mosquitto {
  #process?: TestProcess;
  readonly port: number;
  readonly configPath: string;

  private constructor(readonly opts: MosquittoOptions) {
    this.port = opts.port ?? freePort();
    this.configPath = `${opts.dir}/mosquitto-${this.port}.conf`;
  }

  static async start(opts: MosquittoOptions): Promise<Mosquitto> {
    const broker = new Mosquitto(opts);
    await Deno.writeTextFile(broker.configPath, broker.#config());
    await broker.#launch();
    return broker;
  }

  #config(): string {
    const { tls, persistence, dir } = this.opts;
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      "allow_anonymous true",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      "connection_messages true",
      "log_timestamp_format %H:%M:%S",
    ];
    if (!this.opts.deviceQueue) lines.push("max_queued_messages 100000");
    if (Deno.uid() === 0) lines.push("user root");
    if (persistence) {
      lines.push("persistence true", `persistence_location ${dir}/`);
      lines.push(`persistence_file mosquitto-${this.port}.db`, "autosave_interval 1");
    }
    if (tls) {
      lines.push(
        `cafile ${tls.caPath}`,
        `certfile ${tls.certPath}`,
        `keyfile ${tls.keyPath}`,
        `tls_version ${tls.version ?? "tlsv1.3"}`,
      );
      if (tls.requireCertificate ?? true) {
        lines.push("require_certificate true", "use_identity_as_username true");
      }
    }
    lines.push(...(this.opts.extra ?? []));
    return lines.join("\n") + "\n";
  }

  async #launch(): Promise<void> {
    this.#process = new TestProcess("mosquitto", ["-c", this.configPath], {
      echo: this.opts.echo,
    });
    await Promise.race([
      waitForPort(this.port, { timeoutMs: 10_000 }),
      this.#process.exited.then(() => {
        throw new Error(`mosquitto exited at start:\n${this.#process?.output}`);
      }),
    ]);
  }

  get process(): TestProcess {
    if (!this.#process) throw new Error("mosquitto not started");
    return this.#process;
  }

  /** Everything the broker logged since its last (re)start. */
  get log(): string {
    return this.#process?.output ?? "";
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** `mqtt://127.0.0.1:PORT` or `mqtts://...`. */
  get url(): string {
    return `${this.opts.tls ? "mqtts" : "mqtt"}://127.0.0.1:${this.port}`;
  }

  /** Stops the broker: SIGTERM saves the persistence file, SIGKILL does not. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    await this.#process?.stop(signal);
  }

  /** Stops and starts again on the same port with the same configuration. */
  async restart(signal: Deno.Signal = "SIGTERM", downMs = 0): Promise<void> {
    await this.stop(signal);
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.#launch();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
