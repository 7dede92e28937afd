/**
 * Test bed for the bridge tests: a "cloud" mosquitto (TLS 1.3, client certificate required; or
 * plain behind stunnel4 held to TLS 1.2, an endpoint without TLS 1.3), a local mosquitto
 * (persistence on), a device certificate with a file key, and mqtt.js clients for the load
 * generator and subscribers (in-process: cheap on a 2-CPU machine).
 */
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import {
  Bridge,
  type BridgeOptions,
  type BridgeRule,
  BridgeRules,
  c8yProfile,
  type CloudProfile,
} from "../src/bridge/mod.ts";
import { healthPayload } from "../src/bridge/mod.ts";
import { denoTlsTransport, tcpTransport } from "../src/mqtt/mod.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { type IssuedCertificate, TestPki } from "./helpers/pki.ts";
import { type CliResult, runCli, startCli } from "./helpers/cli.ts";
import { tempDir, type TestProcess } from "./helpers/process.ts";
import { SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";
import { startP11ServerProcess } from "./helpers/p11_server.ts";
import { Stunnel } from "./helpers/stunnel.ts";
import { SoftTpm, TPM2_PKCS11_MODULE } from "./helpers/tpm.ts";

export const DEVICE_ID = "hsm-bridge-test-device";
/** The 102 "up" line the bridge publishes on the cloud's s/us at every CONNACK (COMPAT.md 3). */
export const UP_102 =
  `102,${DEVICE_ID}:device:main:service:tedge-mapper-c8y,service,tedge-mapper-c8y,up`;

export interface BridgeEnvOptions {
  /** Persistence for the cloud broker (needed when it restarts under a subscriber). */
  cloudPersistence?: boolean;
  /** Override the cloud broker's TLS server certificate (an untrusted one, say). */
  untrustedCloud?: boolean;
  /**
   * The cloud endpoint is stunnel4 with sslVersionMax TLSv1.2 and a required client
   * certificate, in front of a plain mosquitto: a TLS 1.2-only MQTT endpoint.
   */
  cloudTls12?: boolean;
  echo?: boolean;
  /** The local broker with mosquitto's defaults, as on a device (max_queued_messages 1000). */
  deviceDefaults?: boolean;
  /** More configuration lines for the local broker. */
  localExtra?: string[];
}

export class BridgeEnv {
  private constructor(
    readonly dir: string,
    readonly pki: TestPki,
    readonly device: IssuedCertificate,
    readonly cloud: Mosquitto,
    readonly local: Mosquitto,
    readonly profile: CloudProfile,
    /** Where clients reach the cloud over TLS: the broker, or stunnel in front of it. */
    readonly cloudPort: number,
    /** The TLS 1.2 terminator, when there is one. */
    readonly terminator: Stunnel | undefined,
    private readonly cleanup: () => Promise<void>,
  ) {}

  static async create(opts: BridgeEnvOptions = {}): Promise<BridgeEnv> {
    const dir = await tempDir("hsm-bridge-bridge-");
    try {
      const pki = await TestPki.create(`${dir.path}/pki`);
      // The cloud presents a certificate from another CA when it must not be trusted.
      const serverPki = opts.untrustedCloud
        ? await TestPki.create(`${dir.path}/other-pki`, { cn: "Untrusted CA" })
        : pki;
      const server = await serverPki.server();
      const device = await pki.device("device", DEVICE_ID);
      await Deno.mkdir(`${dir.path}/cloud`);
      await Deno.mkdir(`${dir.path}/local`);
      const tls = { caPath: pki.caPath, certPath: server.certPath, keyPath: server.keyPath! };
      const cloud = await Mosquitto.start({
        dir: `${dir.path}/cloud`,
        tls: opts.cloudTls12 ? undefined : tls,
        persistence: opts.cloudPersistence,
        echo: opts.echo,
      });
      const terminator = opts.cloudTls12
        ? await Stunnel.start({
          dir: `${dir.path}/cloud`,
          connectPort: cloud.port,
          creds: { certPath: tls.certPath, keyPath: tls.keyPath, caPath: tls.caPath },
        })
        : undefined;
      const local = await Mosquitto.start({
        dir: `${dir.path}/local`,
        persistence: true,
        echo: opts.echo,
        deviceQueue: opts.deviceDefaults,
        extra: opts.localExtra,
      });
      const profile = c8yProfile({ deviceId: DEVICE_ID, templates: ["tmpl1"] });
      const cloudPort = terminator?.port ?? cloud.port;
      return new BridgeEnv(
        dir.path,
        pki,
        device,
        cloud,
        local,
        profile,
        cloudPort,
        terminator,
        async () => {
          await Promise.allSettled([
            cloud.stop("SIGKILL"),
            local.stop("SIGKILL"),
            terminator?.stop(),
          ]);
          await dir[Symbol.asyncDispose]();
        },
      );
    } catch (e) {
      await dir[Symbol.asyncDispose]();
      throw e;
    }
  }

  /**
   * Bridge options with the device's file key over Deno TLS; short backoff for tests.
   * `cloudPort` puts something (a proxy) between the bridge and the cloud broker.
   */
  async bridgeOptions(
    extra: Partial<BridgeOptions> & { extraRules?: BridgeRule[]; cloudPort?: number } = {},
  ) {
    const { extraRules = [], cloudPort = this.cloudPort, ...rest } = extra;
    const options: BridgeOptions = {
      rules: new BridgeRules([...this.profile.rules, ...extraRules]),
      local: {
        transport: tcpTransport({ hostname: "127.0.0.1", port: this.local.port }),
        clientId: this.profile.localClientId,
      },
      cloud: {
        transport: denoTlsTransport({
          hostname: "127.0.0.1",
          port: cloudPort,
          caCerts: [await Deno.readTextFile(this.pki.caPath)],
          certChain: this.device.chainPem,
          privateKey: await Deno.readTextFile(this.device.keyPath!),
        }),
        clientId: this.profile.cloudClientId,
        keepaliveSeconds: 60,
        will: this.profile.cloudWill,
        onConnect: this.profile.onCloudConnect,
        onShutdown: this.profile.onCloudShutdown,
      },
      healthTopic: this.profile.healthTopic,
      maxCloudPayloadBytes: 16_184,
      reconnect: { initialMs: 200, maximumMs: 1_000, resetWindowMs: 60_000 },
      connectTimeoutMs: 10_000,
      statsIntervalMs: 0,
      shutdownGraceMs: 3_000,
      ...rest,
    };
    return options;
  }

  async startBridge(extra: Parameters<BridgeEnv["bridgeOptions"]>[0] = {}): Promise<Bridge> {
    const bridge = new Bridge(await this.bridgeOptions(extra));
    bridge.start();
    return bridge;
  }

  /** An mqtt.js client of the cloud broker with its own client certificate. */
  async cloudClient(name: string, opts: IClientOptions = {}): Promise<MqttClient> {
    const cert = await this.pki.device(`client-${name}`, name);
    return await mqtt.connectAsync(`mqtts://127.0.0.1:${this.cloudPort}`, {
      ca: await Deno.readTextFile(this.pki.caPath),
      cert: cert.certPem,
      key: await Deno.readTextFile(cert.keyPath!),
      clientId: name,
      reconnectPeriod: 0,
      ...opts,
    });
  }

  /** An mqtt.js client of the local broker. */
  async localClient(name: string, opts: IClientOptions = {}): Promise<MqttClient> {
    return await mqtt.connectAsync(`mqtt://127.0.0.1:${this.local.port}`, {
      clientId: name,
      reconnectPeriod: 0,
      ...opts,
    });
  }

  /** Run when the environment is disposed, before the brokers stop (helper processes). */
  readonly atDispose: (() => Promise<unknown>)[] = [];

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.atDispose.map((f) => f()));
    await this.cleanup();
  }
}

/** Messages received by a client, with a way to wait for the one you expect. */
export class Inbox {
  readonly messages: { topic: string; payload: string; retain: boolean; qos: number }[] = [];
  #waiters: (() => void)[] = [];

  constructor(client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload: payload.toString(),
        retain: packet.retain,
        qos: packet.qos,
      });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Waits until a received message satisfies `match`; returns it. */
  async waitFor(
    match: (m: Inbox["messages"][number]) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Inbox["messages"][number]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Timed out waiting for ${what}; received:\n` +
            this.messages.slice(-20).map((m) => `  ${m.topic} ${m.payload}`).join("\n"),
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  has(match: (m: Inbox["messages"][number]) => boolean): boolean {
    return this.messages.some(match);
  }
}

/** Polls `check` until true; throws `what` after the timeout. */
export async function eventually(
  check: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * How `hsm-bridge run` holds the device key in a process test: a file, a SoftHSM token it
 * loads itself, or a SoftHSM token behind `hsm-bridge p11-server` (socket mode: then the
 * bridge process has no module path, no SoftHSM configuration and no ffi permission).
 * A P-256 key in a software TPM made by `hsm create-key` is "tpm".
 */
export type KeyKind = "file" | "softhsm" | "socket" | "tpm";

export const TOKEN_LABEL = "edge";
export const TOKEN_PIN = "1234";

/**
 * `hsm-bridge run` as a separate process (cli.ts with the compile permission set) against the
 * BridgeEnv brokers, with a file key or a SoftHSM token key (our TLS client in both cases).
 */
export class RunDevice {
  private constructor(
    readonly env: BridgeEnv,
    readonly kind: KeyKind,
    readonly configPath: string,
    /** Environment for the process (SOFTHSM2_CONF for a token). */
    readonly processEnv: Record<string, string>,
    readonly hsm?: SoftHsm,
    /** Socket mode: the p11-server process and its socket (stop it with the test). */
    readonly p11?: { server: TestProcess; socketPath: string },
    readonly tpm?: SoftTpm,
  ) {}

  static async create(
    env: BridgeEnv,
    kind: KeyKind,
    extraToml: Record<string, string> = {},
  ): Promise<RunDevice> {
    const lines: Record<string, string> = {
      "c8y.mqtt": `"127.0.0.1:${env.cloudPort}"`,
      "c8y.root_cert_path": `"${env.pki.caPath}"`,
      "c8y.smartrest.templates": `["tmpl1"]`,
      "mqtt.client.host": `"127.0.0.1"`,
      "mqtt.client.port": String(env.local.port),
      "mqtt.bridge.reconnect_policy.initial_interval": `"200ms"`,
      "mqtt.bridge.reconnect_policy.maximum_interval": `"1s"`,
      // Never the system's /var/lib/tedge/hsm-bridge.
      "c8y.bridge.outbox.dir": `"${env.dir}/outbox"`,
    };
    let hsm: SoftHsm | undefined;
    let p11: RunDevice["p11"];
    let tpm: SoftTpm | undefined;
    if (kind === "file") {
      lines["device.cert_path"] = `"${env.device.certPath}"`;
      lines["device.key_path"] = `"${env.device.keyPath}"`;
    } else if (kind === "tpm") {
      const started = tpm = await SoftTpm.start(`${env.dir}/tpm`);
      env.atDispose.push(() => started.stop());
      const token = await tpm.initToken(TOKEN_LABEL, { pin: TOKEN_PIN });
      const made = await tpm.createKey(token, ["--type", "ecdsa"], "device-key");
      const cert = await env.pki.device("tpm-device", DEVICE_ID, { publicKeySpki: made.spki });
      lines["device.cert_path"] = `"${cert.certPath}"`;
      lines["device.cryptoki.mode"] = `"module"`;
      lines["device.cryptoki.module_path"] = `"${TPM2_PKCS11_MODULE}"`;
      lines["device.cryptoki.pin"] = `"${TOKEN_PIN}"`;
      lines["device.key_uri"] = `"${made.uri}"`;
    } else {
      hsm = await SoftHsm.create(`${env.dir}/softhsm`);
      const token = await hsm.initToken(TOKEN_LABEL, { pin: TOKEN_PIN });
      const key = await hsm.importNewKey(token, "p256", { label: "device-key" });
      const cert = await env.pki.device("token-device", DEVICE_ID, {
        publicKeySpki: key.spki,
      });
      lines["device.cert_path"] = `"${cert.certPath}"`;
      lines["device.key_uri"] = `"${key.uri}"`;
      if (kind === "softhsm") {
        lines["device.cryptoki.mode"] = `"module"`;
        lines["device.cryptoki.module_path"] = `"${SOFTHSM_MODULE}"`;
        lines["device.cryptoki.pin"] = `"${TOKEN_PIN}"`;
      } else {
        const socketPath = `${env.dir}/p11/tedge-p11-server.sock`;
        const server = await startP11ServerProcess(hsm, socketPath, { pin: TOKEN_PIN });
        p11 = { server, socketPath };
        env.atDispose.push(() => server.stop("SIGKILL"));
        lines["device.cryptoki.mode"] = `"socket"`;
        lines["device.cryptoki.socket_path"] = `"${socketPath}"`;
      }
    }
    const configPath = `${env.dir}/tedge.toml`;
    await Deno.writeTextFile(configPath, tomlText({ ...lines, ...extraToml }));
    const processEnv = kind === "softhsm" ? hsm!.env : kind === "tpm" ? tpm!.env : {};
    return new RunDevice(env, kind, configPath, processEnv, hsm, p11, tpm);
  }

  /** Deno flags of the bridge process: socket mode proves no native module loads. */
  get denoFlags(): string[] {
    return this.kind === "socket" ? ["--deny-ffi"] : [];
  }

  /** Starts `hsm-bridge run --config <file> ARGS...`. */
  start(args: string[] = [], env: Record<string, string> = {}): TestProcess {
    return startCli(["run", "--config", this.configPath, "--stats-interval", "1", ...args], {
      env: { ...this.processEnv, ...env },
      denoFlags: this.denoFlags,
    });
  }

  /** Runs `hsm-bridge run` expecting it to exit by itself (configuration errors). */
  run(args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
    return runCli(["run", "--config", this.configPath, ...args], {
      env: { ...this.processEnv, ...env },
      denoFlags: this.denoFlags,
    });
  }
}

/** TOML for dotted keys whose values are already TOML literals. */
function tomlText(values: Record<string, string>): string {
  const tables = new Map<string, string[]>();
  for (const [key, value] of Object.entries(values)) {
    const i = key.lastIndexOf(".");
    const table = key.slice(0, i);
    tables.set(table, [...(tables.get(table) ?? []), `${key.slice(i + 1)} = ${value}`]);
  }
  return [...tables].map(([t, l]) => `[${t}]\n${l.join("\n")}\n`).join("\n");
}

/**
 * The test's own clients watching what `run` bridges: on the cloud `s/us` and the measurements,
 * on the local broker `c8y/s/#` and the health topic. `up()` waits for health up and 102 up.
 */
export async function watchBothSides(env: BridgeEnv) {
  const cloud = await env.cloudClient("cloud-app");
  const local = await env.localClient("device-app");
  const cloudInbox = new Inbox(cloud);
  const localInbox = new Inbox(local);
  await cloud.subscribeAsync(["s/us", "measurement/#"], { qos: 1 });
  await local.subscribeAsync(["c8y/s/#", env.profile.healthTopic], { qos: 1 });
  return {
    cloud,
    local,
    cloudInbox,
    localInbox,
    async up(): Promise<void> {
      await localInbox.waitFor(
        (m) => m.topic === env.profile.healthTopic && m.payload === healthPayload(true),
        "health up",
        20_000,
      );
      await cloudInbox.waitFor((m) => m.payload === UP_102, "102 up");
    },
    async end(): Promise<void> {
      await Promise.all([cloud.endAsync(), local.endAsync()]);
    },
  };
}
