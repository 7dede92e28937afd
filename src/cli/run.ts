/**
 * `hsm-bridge run`: thin-edge's built-in Cumulocity bridge, with the device key on a token.
 *
 * 1. Load tedge.toml; every value is parsed now, the rule files too.
 * 2. Open the key and check it against the device certificate, once (a token is logged in
 *    once per process: a wrong PIN is never retried). A locked PIN is waited out instead
 *    (RunKey: the login is tried again at each cloud reconnection).
 * 3. Any configuration or credential error ends here with exit 78, before any retry loop.
 * 4. Open the outbox (store and forward, c8y.bridge.outbox.*): moved aside when unreadable.
 * 5. Connect both sides and forward until SIGTERM / SIGINT, then shut down cleanly (exit 0).
 *
 * The cloud connection runs over our TLS 1.3 client, whose CertificateVerify the key signs
 * (the only way for a token key). With a file key, `--deno-tls` uses Deno's TLS (rustls)
 * instead; Deno then also trusts its built-in roots besides c8y.root_cert_path.
 *
 * While the bridge is idle, the process gives back the memory traffic made it grow (see
 * `idleMemoryRelease`).
 */
import { HSM_TIMEOUT_MS } from "../timeouts.ts";
import type { Command } from "commander";
import { ConfigError, keySpec, type TedgeConfig } from "../config/mod.ts";
import { getLogger } from "../log.ts";
import {
  Bridge,
  type BridgeOptions,
  BridgeRules,
  c8yProfile,
  checkTopicPrefix,
  loadRuleDir,
} from "../bridge/mod.ts";
import { denoTlsTransport, tcpTransport, type TransportFactory } from "../mqtt/mod.ts";
import { connectTls } from "../tls/mod.ts";
import { derOf, encodePem, TrustStore } from "../x509/mod.ts";
import { type DeviceCertificate, loadDeviceCertificate, openConfiguredKey } from "./_keys.ts";
import { RunKey } from "./_run_key.ts";
import { tlsMinVersion } from "./check_tls.ts";
import { openConfiguredOutbox } from "./_outbox.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./errors.ts";

const log = getLogger("run");

interface RunOptions {
  statsInterval: string;
  denoTls?: boolean;
}

export function registerRun(program: Command, ctx: CliContext): void {
  program.command("run")
    .description(
      "Bridge the local MQTT broker and Cumulocity (thin-edge's built-in bridge) until " +
        "SIGTERM or SIGINT",
    )
    .option("--stats-interval <seconds>", "period of the counters log line (0 = never)", "60")
    .option(
      "--deno-tls",
      "file keys only: use Deno's TLS instead of ours (Deno also trusts its built-in roots)",
    )
    .action(async (opts: RunOptions) => {
      await runBridge(ctx, opts);
    });
}

async function runBridge(ctx: CliContext, opts: RunOptions): Promise<void> {
  const statsSeconds = Number(opts.statsInterval);
  if (!Number.isFinite(statsSeconds) || statsSeconds < 0) {
    throw new UsageError(
      `Invalid --stats-interval "${opts.statsInterval}": expected a number of seconds, e.g. 60`,
    );
  }
  const config = await ctx.loadConfig();
  config.validate();
  if (config.get("mqtt.bridge.built_in") === false) {
    log.warn(
      "mqtt.bridge.built_in is false: if mosquitto's own bridge to Cumulocity is configured " +
        "too, messages may be forwarded twice",
    );
  }
  const certificate = await loadDeviceCertificate(config);
  const key = await RunKey.open(() => openConfiguredKey(config, { certificate }));
  try {
    const options = await bridgeOptions(config, certificate, key, {
      statsIntervalMs: statsSeconds * 1000,
      denoTls: opts.denoTls ?? false,
    });
    const outbox = openConfiguredOutbox(config);
    try {
      await runUntilSignal(new Bridge({ ...options, outbox }));
    } finally {
      await outbox?.close();
    }
  } finally {
    await key.close();
  }
}

/** Starts the bridge; stops it on SIGTERM / SIGINT; rethrows a fatal bridge error. */
async function runUntilSignal(bridge: Bridge): Promise<void> {
  let onSignal!: () => void;
  const signalled = new Promise<void>((resolve) => onSignal = resolve);
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    bridge.start();
    await Promise.race([signalled, bridge.failed]);
    log.info("Stopping on signal");
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    await bridge.stop();
  }
}

function configError(key: string, e: unknown): ConfigError {
  return new ConfigError(`Invalid value for "${key}": ${(e as Error).message}`, {
    key,
    cause: e,
  });
}

/** tedge.toml -> the bridge's typed options (ARCHITECTURE: only the CLI reads config). */
async function bridgeOptions(
  config: TedgeConfig,
  certificate: DeviceCertificate,
  key: RunKey,
  extra: { statsIntervalMs: number; denoTls: boolean },
): Promise<BridgeOptions> {
  const prefixValue = config.require("c8y.bridge.topic_prefix");
  let prefix: string;
  try {
    prefix = checkTopicPrefix(prefixValue);
  } catch (e) {
    throw configError("c8y.bridge.topic_prefix", e);
  }
  const profile = c8yProfile({
    deviceId: config.require("device.id"),
    prefix,
    serviceType: config.get("service.type"),
    templates: config.get("c8y.smartrest.templates") ?? [],
    topicRoot: config.get("mqtt.topic_root"),
    deviceTopicId: config.get("mqtt.device_topic_id"),
  });
  const ruleDir = `${config.dir}/mappers/c8y/bridge`;
  const fileRules = await loadRuleDir(ruleDir, {
    // Keys hsm-bridge does not know (thin-edge has more) read as unset.
    config: (k) => keySpec(k) ? config.get(k as Parameters<TedgeConfig["get"]>[0]) : undefined,
  });
  if (fileRules.length) {
    log.info("Bridge rule files loaded", { dir: ruleDir, rules: fileRules.length });
  }
  const rules = new BridgeRules([...profile.rules, ...fileRules]);
  return {
    rules,
    local: {
      transport: await localTransport(config),
      clientId: profile.localClientId,
      username: config.get("mqtt.client.auth.username"),
      password: await readPasswordFile(config),
    },
    cloud: {
      transport: await cloudTransport(config, certificate, key, extra.denoTls),
      clientId: profile.cloudClientId,
      keepaliveSeconds: Math.max(
        1,
        Math.ceil(config.require("c8y.bridge.keepalive_interval") / 1000),
      ),
      will: profile.cloudWill,
      onConnect: profile.onCloudConnect,
      onShutdown: profile.onCloudShutdown,
    },
    healthTopic: profile.healthTopic,
    maxCloudPayloadBytes: config.get("c8y.mapper.mqtt.max_payload_size"),
    reconnect: {
      initialMs: config.require("mqtt.bridge.reconnect_policy.initial_interval"),
      maximumMs: config.require("mqtt.bridge.reconnect_policy.maximum_interval"),
      resetWindowMs: config.require("mqtt.bridge.reconnect_policy.reset_window"),
    },
    connectTimeoutMs: HSM_TIMEOUT_MS,
    statsIntervalMs: extra.statsIntervalMs,
    idle: { onIdle: idleMemoryRelease() },
  };
}

/** Resident memory must have grown this much since the last release to release again. */
const RELEASE_AFTER_GROWTH_BYTES = 8 * 1024 * 1024;

/**
 * What the bridge does when it goes quiet: a full, memory-reducing V8 GC, then glibc's
 * malloc_trim(0). Under load V8 grows its heap lazily and malloc keeps the freed ArrayBuffer
 * memory of the messages; neither gives it back on its own while the process idles (RSS stayed
 * at 218 MB after a burst of 4 KiB messages; this brought it to 94 MB). Skipped unless RSS grew
 * since the last release, so a trickle of messages does not cause a full GC per quiet period.
 *
 * The GC needs V8's `--expose-gc` (the compile task's --v8-flags); malloc_trim needs glibc and
 * the ffi permission. Without either, that step is skipped.
 */
function idleMemoryRelease(): () => void {
  const gc = (globalThis as { gc?: (options: Record<string, string>) => void }).gc;
  const trim = mallocTrim();
  let floor = 0;
  return () => {
    const before = Deno.memoryUsage().rss;
    if (before < floor + RELEASE_AFTER_GROWTH_BYTES) return;
    const started = performance.now();
    gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
    trim?.();
    floor = Deno.memoryUsage().rss;
    log.debug("Memory released while idle", {
      rss_before_mb: Math.round(before / 1e6),
      rss_after_mb: Math.round(floor / 1e6),
      ms: Math.round(performance.now() - started),
    });
  };
}

/** glibc's malloc_trim(0) through FFI; undefined where there is none (musl, no permission). */
function mallocTrim(): (() => void) | undefined {
  if (Deno.build.os !== "linux") return undefined;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void libc.symbols.malloc_trim(0n);
  } catch {
    return undefined;
  }
}

/**
 * The cloud connection: our TLS client (token or file key; TLS 1.3, or 1.2 unless
 * c8y.bridge.tls.min_version is 1.3), or Deno's for a file key.
 */
async function cloudTransport(
  config: TedgeConfig,
  certificate: DeviceCertificate,
  key: RunKey,
  denoTls: boolean,
): Promise<TransportFactory> {
  const endpoint = config.require("c8y.mqtt");
  const trustStore = await TrustStore.load(config.require("c8y.root_cert_path"));
  const certificateChain = certificate.chain.map(derOf);
  const mode = config.get("device.cryptoki.mode") ?? "off";
  log.info("Cloud endpoint", {
    endpoint: `${endpoint.host}:${endpoint.port}`,
    key: key.description,
    tls: denoTls && mode === "off" ? "deno" : "hsm-bridge",
  });
  const minVersion = tlsMinVersion(config);
  if (denoTls) {
    if (mode !== "off") {
      throw new UsageError(
        `--deno-tls works with a file key only (device.cryptoki.mode is "${mode}"): Deno's ` +
          `TLS cannot let a token sign the handshake`,
      );
    }
    if (minVersion === "TLSv1.3") {
      throw new UsageError(
        `--deno-tls cannot keep to c8y.bridge.tls.min_version 1.3: Deno's TLS offers TLS 1.2 ` +
          `too; leave out --deno-tls`,
      );
    }
    return denoTlsTransport({
      hostname: endpoint.host,
      port: endpoint.port,
      caCerts: trustStore.certificates.map((c) => encodePem("CERTIFICATE", derOf(c))),
      certChain: certificateChain.map((d) => encodePem("CERTIFICATE", d)).join(""),
      privateKey: await Deno.readTextFile(config.require("device.key_path")),
    });
  }
  return async (signal) => {
    try {
      const tls = await connectTls({
        hostname: endpoint.host,
        port: endpoint.port,
        trustStore,
        clientAuth: { certificateChain, key: await key.key() },
        minVersion,
        handshakeTimeoutMs: HSM_TIMEOUT_MS,
        signal,
      });
      key.connected();
      return tls;
    } catch (e) {
      throw key.blocked(e);
    }
  };
}

/** The local broker: TCP, or TLS when mqtt.client.auth.ca_file is set. */
async function localTransport(config: TedgeConfig): Promise<TransportFactory> {
  const hostname = config.require("mqtt.client.host");
  const port = config.require("mqtt.client.port");
  const caFile = config.get("mqtt.client.auth.ca_file");
  if (!caFile) return tcpTransport({ hostname, port });
  const certFile = config.get("mqtt.client.auth.cert_file");
  const keyFile = config.get("mqtt.client.auth.key_file");
  if (!!certFile !== !!keyFile) {
    throw new ConfigError(
      `Set both mqtt.client.auth.cert_file and mqtt.client.auth.key_file, or neither`,
      { key: certFile ? "mqtt.client.auth.key_file" : "mqtt.client.auth.cert_file" },
    );
  }
  return denoTlsTransport({
    hostname,
    port,
    caCerts: [await readConfigFile("mqtt.client.auth.ca_file", caFile)],
    certChain: certFile ? await readConfigFile("mqtt.client.auth.cert_file", certFile) : undefined,
    privateKey: keyFile ? await readConfigFile("mqtt.client.auth.key_file", keyFile) : undefined,
  });
}

async function readPasswordFile(config: TedgeConfig): Promise<string | undefined> {
  const path = config.get("mqtt.client.auth.password_file");
  if (!path) return undefined;
  return (await readConfigFile("mqtt.client.auth.password_file", path)).trim();
}

async function readConfigFile(key: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(`Cannot read ${key} "${path}": ${(e as Error).message}`, {
      key,
      cause: e,
    });
  }
}
