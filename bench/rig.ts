/**
 * What is benchmarked: four ways of getting a message between a "local" broker and the "cloud"
 * broker (mosquitto, TLS 1.3, client certificate required), each set up fresh for a run:
 *
 *   hsm-token  publisher -> local mosquitto -> hsm-bridge (SoftHSM P-256 key, our TLS 1.3) -> cloud
 *   hsm-file   publisher -> local mosquitto -> hsm-bridge (file key)                      -> cloud
 *   mosquitto  publisher -> local mosquitto with a `connection` block (TLS 1.3, file key) -> cloud
 *   direct     publisher -> cloud (the ceiling: no bridge at all)
 *
 * and the same backwards (cloud -> local). The subscriber is always on the far broker.
 */
import { C8Y_INBOUND_TOPICS, C8Y_OUTBOUND_TOPICS } from "../src/bridge/mod.ts";
import { startCli } from "../tests/helpers/cli.ts";
import { Mosquitto } from "../tests/helpers/mosquitto.ts";
import { type IssuedCertificate, TestPki } from "../tests/helpers/pki.ts";
import type { TestProcess } from "../tests/helpers/process.ts";
import { SoftHsm, type TokenInfo, type TokenKey } from "../tests/helpers/softhsm.ts";
import { onCleanup } from "./cleanup.ts";
import type { Path } from "./load.ts";
import { type Endpoint, WireClient, withTimeout } from "./mqtt_wire.ts";

/** The subjects of a full run, in table order. */
export const SUBJECTS = ["hsm-token", "hsm-file", "mosquitto", "direct"] as const;
/**
 * Only with --subjects: hsm-bridge with the file key over Deno's TLS (`run --deno-tls`), to
 * tell our TLS client's cost from the rest of the bridge.
 */
export const EXTRA_SUBJECTS = ["hsm-file-deno-tls"] as const;
export const ALL_SUBJECTS = [...SUBJECTS, ...EXTRA_SUBJECTS] as const;
export type Subject = typeof ALL_SUBJECTS[number];
type HsmSubject = "hsm-token" | "hsm-file" | "hsm-file-deno-tls";

export const DEVICE_ID = "bench-device";
export const HEALTH_TOPIC = "te/device/main/service/tedge-mapper-bridge-c8y/status/health";
const OUT_REMOTE = "measurement/measurements/create/bench";
const IN_REMOTE = "s/ds";
const PREFIX = "c8y/";

export interface Rig {
  readonly subject: Subject;
  /** The bridging process (hsm-bridge, or the bridging mosquitto); none for direct. */
  readonly pid?: number;
  /** Every process on the message path (brokers and bridge), for CPU accounting. */
  readonly pids: Partial<Record<"bridge" | "local" | "cloud", number>>;
  readonly out: Path;
  readonly in: Path;
  /** What the bridging process logged (for error reports). */
  log(): string;
  /** The cloud broker (the outbox bench stops it for an outage). */
  readonly cloud: Mosquitto;
  /** hsm-bridge's tedge.toml (hsm subjects). */
  readonly configPath?: string;
  stop(): Promise<void>;
}

/** The PKI, token and certificates, made once for the whole benchmark. */
export class BenchEnv {
  private constructor(
    readonly dir: string,
    readonly pki: TestPki,
    readonly caPem: string,
    readonly server: IssuedCertificate,
    readonly fileDevice: IssuedCertificate,
    readonly tokenDevice: IssuedCertificate,
    readonly hsm: SoftHsm,
    readonly token: TokenInfo,
    readonly tokenKey: TokenKey,
    readonly loadgenTls: Endpoint["tls"],
  ) {}

  static async create(dir: string): Promise<BenchEnv> {
    const pki = await TestPki.create(`${dir}/pki`);
    const server = await pki.server("cloud");
    const fileDevice = await pki.device("device-file", DEVICE_ID);
    const hsm = await SoftHsm.create(`${dir}/hsm`);
    const token = await hsm.initToken("bench");
    const tokenKey = await hsm.importNewKey(token, "p256", { label: "device-key" });
    const tokenDevice = await pki.device("device-token", DEVICE_ID, {
      publicKeySpki: tokenKey.spki,
    });
    const loadgen = await pki.device("loadgen", "bench-loadgen");
    const caPem = await Deno.readTextFile(pki.caPath);
    const loadgenTls = {
      caCerts: [caPem],
      cert: loadgen.chainPem,
      key: await Deno.readTextFile(loadgen.keyPath!),
    };
    return new BenchEnv(
      dir,
      pki,
      caPem,
      server,
      fileDevice,
      tokenDevice,
      hsm,
      token,
      tokenKey,
      loadgenTls,
    );
  }

  /** A fresh "cloud" broker: TLS 1.3, client certificate required. */
  async cloudBroker(dir: string, { persistence = false } = {}): Promise<Mosquitto> {
    await Deno.mkdir(dir, { recursive: true });
    return await startBroker({
      dir,
      persistence,
      tls: {
        caPath: this.pki.caPath,
        certPath: this.server.certPath,
        keyPath: this.server.keyPath!,
      },
    });
  }

  cloudEndpoint(broker: Mosquitto): Endpoint {
    return { port: broker.port, tls: this.loadgenTls };
  }

  /** mosquitto's bridge: a local broker with a `connection` block to the cloud broker. */
  mosquittoBridgeConfig(cloudPort: number): string[] {
    return [
      "connection c8y-bench",
      `address 127.0.0.1:${cloudPort}`,
      "bridge_protocol_version mqttv311",
      `remote_clientid ${DEVICE_ID}`,
      "local_clientid mosquitto-bridge-c8y",
      "cleansession true",
      "try_private false",
      "notifications false",
      "bridge_attempt_unsubscribe false",
      "start_type automatic",
      "restart_timeout 1",
      "keepalive_interval 60",
      `bridge_cafile ${this.pki.caPath}`,
      `bridge_certfile ${this.fileDevice.chainPath}`,
      `bridge_keyfile ${this.fileDevice.keyPath}`,
      "bridge_tls_version tlsv1.3",
      // thin-edge's Cumulocity topics (COMPAT.md section 3), the ones hsm-bridge forwards.
      ...C8Y_OUTBOUND_TOPICS.map((t) => `topic ${t} out 1 ${PREFIX} ""`),
      ...C8Y_INBOUND_TOPICS.map((t) => `topic ${t} in 1 ${PREFIX} ""`),
    ];
  }

  /** tedge.toml for hsm-bridge with the token key or the file key (outbox in `dir`). */
  tedgeToml(
    key: "token" | "file",
    cloudPort: number,
    localPort: number,
    outbox: { dir: string; enable?: boolean; maxSize?: string },
  ): string {
    const q = JSON.stringify;
    const device = key === "token"
      ? [
        "[device]",
        `cert_path = ${q(this.tokenDevice.chainPath)}`,
        `key_uri = ${q(this.tokenKey.uri)}`,
        "",
        "[device.cryptoki]",
        `mode = "module"`,
        `module_path = ${q(this.hsm.module)}`,
        `pin = ${q(this.token.pin)}`,
      ]
      : [
        "[device]",
        `cert_path = ${q(this.fileDevice.chainPath)}`,
        `key_path = ${q(this.fileDevice.keyPath!)}`,
      ];
    return [
      ...device,
      "",
      "[c8y]",
      `url = "127.0.0.1"`,
      `mqtt = "127.0.0.1:${cloudPort}"`,
      `root_cert_path = ${q(this.pki.caPath)}`,
      "",
      "[c8y.bridge.outbox]",
      `dir = ${q(outbox.dir)}`,
      `enable = ${outbox.enable ?? true}`,
      ...(outbox.maxSize ? [`max_size = ${q(outbox.maxSize)}`] : []),
      "",
      "[mqtt.client]",
      `host = "127.0.0.1"`,
      `port = ${localPort}`,
      "",
    ].join("\n");
  }
}

/** Starts a broker and registers it for cleanup (Ctrl-C included). */
async function startBroker(opts: Parameters<typeof Mosquitto.start>[0]): Promise<Mosquitto> {
  const broker = await Mosquitto.start(opts);
  const unregister = onCleanup(`mosquitto ${broker.port}`, () => broker.stop("SIGKILL"));
  const stop = broker.stop.bind(broker);
  broker.stop = async (signal?: Deno.Signal) => {
    await stop(signal);
    await unregister();
  };
  return broker;
}

function paths(local: Endpoint, cloud: Endpoint): { out: Path; in: Path } {
  if (local === cloud) { // direct: publisher and subscriber both on the cloud broker
    return {
      out: { pub: cloud, pubTopic: OUT_REMOTE, sub: cloud, subTopic: OUT_REMOTE },
      in: { pub: cloud, pubTopic: IN_REMOTE, sub: cloud, subTopic: IN_REMOTE },
    };
  }
  return {
    out: { pub: local, pubTopic: PREFIX + OUT_REMOTE, sub: cloud, subTopic: OUT_REMOTE },
    in: { pub: cloud, pubTopic: IN_REMOTE, sub: local, subTopic: PREFIX + IN_REMOTE },
  };
}

export interface RigOptions {
  /** Write a V8 CPU profile of hsm-bridge into this directory (`deno run --cpu-prof`). */
  cpuProfileDir?: string;
  /** More `deno run` flags for hsm-bridge (`--inspect=...`, `--v8-flags=...`): diagnostics. */
  denoFlags?: string[];
  /** More configuration lines for the local broker(s) (diagnosis: max_inflight_messages). */
  localBrokerExtra?: string[];
  /** More environment for hsm-bridge (MALLOC_ARENA_MAX, say): diagnostics. */
  env?: Record<string, string>;
  /** Time allowed from start to health up. */
  startTimeoutMs?: number;
  /** hsm-bridge's store-and-forward outbox (c8y.bridge.outbox.enable); default on. */
  outbox?: boolean;
  /** c8y.bridge.outbox.max_size, when not the default. */
  outboxMaxSize?: string;
  /** Local brokers with mosquitto's defaults only (no max_queued_messages 100000). */
  defaultLocalBroker?: boolean;
  /** A cloud broker that keeps sessions across a restart (the outbox bench's outage). */
  cloudPersistence?: boolean;
  /** hsm-bridge reconnects within this (mqtt.bridge.reconnect_policy), when set. */
  reconnectMaxMs?: number;
}

/** Sets up `subject` with fresh brokers under `dir` (removed by stop()). */
export async function startRig(
  env: BenchEnv,
  subject: Subject,
  dir: string,
  opts: RigOptions = {},
): Promise<Rig & { startedMs?: number }> {
  await Deno.mkdir(dir, { recursive: true });
  const removeDir = onCleanup(`temp dir ${dir}`, () => Deno.remove(dir, { recursive: true }));
  const stops: (() => Promise<void>)[] = [removeDir];
  const stopAll = async () => {
    for (const s of [...stops].reverse()) await s().catch(() => {});
  };
  try {
    const cloud = await env.cloudBroker(`${dir}/cloud`, { persistence: opts.cloudPersistence });
    stops.push(() => cloud.stop("SIGKILL"));
    const cloudEp = env.cloudEndpoint(cloud);
    if (subject === "direct") {
      return {
        subject,
        pids: { cloud: cloud.process.pid },
        ...paths(cloudEp, cloudEp),
        log: () => "",
        cloud,
        stop: stopAll,
      };
    }
    await Deno.mkdir(`${dir}/local`);
    if (subject === "mosquitto") {
      const local = await startBroker({
        dir: `${dir}/local`,
        persistence: true,
        extra: [...(opts.localBrokerExtra ?? []), ...env.mosquittoBridgeConfig(cloud.port)],
      });
      stops.push(() => local.stop());
      return {
        subject,
        pid: local.process.pid,
        pids: { bridge: local.process.pid, cloud: cloud.process.pid },
        ...paths({ port: local.port }, cloudEp),
        log: () => local.log,
        cloud,
        stop: stopAll,
      };
    }
    const local = await startBroker({
      dir: `${dir}/local`,
      persistence: true,
      extra: opts.localBrokerExtra,
      deviceQueue: opts.defaultLocalBroker,
    });
    stops.push(() => local.stop("SIGKILL"));
    const started = await startHsmBridge(env, subject, dir, cloud.port, local.port, opts);
    stops.push(started.stop);
    return {
      subject,
      pid: started.process.pid,
      pids: { bridge: started.process.pid, local: local.process.pid, cloud: cloud.process.pid },
      startedMs: started.upMs,
      ...paths({ port: local.port }, cloudEp),
      log: () => started.process.output,
      cloud,
      configPath: `${dir}/tedge.toml`,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Starts `hsm-bridge run` and waits for health `up` on the local broker. */
async function startHsmBridge(
  env: BenchEnv,
  subject: HsmSubject,
  dir: string,
  cloudPort: number,
  localPort: number,
  opts: RigOptions,
): Promise<{ process: TestProcess; upMs: number; stop: () => Promise<void> }> {
  const config = `${dir}/tedge.toml`;
  const key = subject === "hsm-token" ? "token" : "file";
  await Deno.writeTextFile(
    config,
    env.tedgeToml(key, cloudPort, localPort, {
      dir: `${dir}/outbox`,
      enable: opts.outbox ?? true,
      maxSize: opts.outboxMaxSize,
    }) + (opts.reconnectMaxMs === undefined ? "" : [
      "[mqtt.bridge.reconnect_policy]",
      `initial_interval = "${Math.max(1, Math.floor(opts.reconnectMaxMs / 4))}ms"`,
      `maximum_interval = "${opts.reconnectMaxMs}ms"`,
      "",
    ].join("\n")),
  );
  const health = await WireClient.connect({ port: localPort }, `bench-health-${Deno.pid}`);
  try {
    let up!: () => void;
    const isUp = new Promise<void>((r) => up = r);
    health.onMessage = (p) => {
      if (/"status"\s*:\s*"up"/.test(new TextDecoder().decode(p))) up();
    };
    await health.subscribe(HEALTH_TOPIC, 1);
    const t0 = performance.now();
    const args = ["run", "--config", config];
    if (subject === "hsm-file-deno-tls") args.push("--deno-tls");
    const envVars = { ...env.hsm.env, TEDGE_CONFIG_DIR: dir, ...opts.env };
    const denoFlags = [
      ...(opts.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProfileDir}`] : []),
      ...(opts.denoFlags ?? []),
    ];
    const process = startCli(args, { env: envVars, denoFlags });
    const stop = onCleanup(`hsm-bridge ${process.pid}`, () => process.stop("SIGTERM", 5_000));
    try {
      await withTimeout(
        Promise.race([
          isUp,
          process.exited.then((s) => {
            throw new Error(`hsm-bridge run exited with ${s.code} before health up`);
          }),
        ]),
        opts.startTimeoutMs ?? 60_000,
        "hsm-bridge health up",
      );
    } catch (e) {
      await stop();
      throw new Error(`${(e as Error).message}\n--- hsm-bridge output ---\n${process.output}`);
    }
    return { process, upMs: performance.now() - t0, stop };
  } finally {
    await health.close();
  }
}

/** Whether `hsm-bridge run` exists yet (the bridge engineer is writing it). */
export async function hsmBridgeRunAvailable(): Promise<{ ok: boolean; why: string }> {
  const p = startCli(["run", "--help"]);
  const status = await p.exited;
  return {
    ok: status.code === 0 && /Usage: hsm-bridge run/.test(p.output),
    why: p.output.trim().split("\n").slice(0, 3).join(" / "),
  };
}
