/**
 * Test bed for the bridge tests: a "cloud" mosquitto (TLS 1.3, client certificate required),
 * a local mosquitto (persistence on), a device certificate with a file key, and mqtt.js
 * clients for the load generator and subscribers (in-process: cheap on a 2-CPU machine).
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
import { denoTlsTransport, tcpTransport } from "../src/mqtt/mod.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { type IssuedCertificate, TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";

export const DEVICE_ID = "hsm-bridge-test-device";

export interface BridgeEnvOptions {
  /** Persistence for the cloud broker (needed when it restarts under a subscriber). */
  cloudPersistence?: boolean;
  /** Override the cloud broker's TLS server certificate (an untrusted one, say). */
  untrustedCloud?: boolean;
  echo?: boolean;
}

export class BridgeEnv {
  private constructor(
    readonly dir: string,
    readonly pki: TestPki,
    readonly device: IssuedCertificate,
    readonly cloud: Mosquitto,
    readonly local: Mosquitto,
    readonly profile: CloudProfile,
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
      const cloud = await Mosquitto.start({
        dir: `${dir.path}/cloud`,
        tls: { caPath: pki.caPath, certPath: server.certPath, keyPath: server.keyPath! },
        persistence: opts.cloudPersistence,
        echo: opts.echo,
      });
      const local = await Mosquitto.start({
        dir: `${dir.path}/local`,
        persistence: true,
        echo: opts.echo,
      });
      const profile = c8yProfile({ deviceId: DEVICE_ID, templates: ["tmpl1"] });
      return new BridgeEnv(dir.path, pki, device, cloud, local, profile, async () => {
        await Promise.allSettled([cloud.stop("SIGKILL"), local.stop("SIGKILL")]);
        await dir[Symbol.asyncDispose]();
      });
    } catch (e) {
      await dir[Symbol.asyncDispose]();
      throw e;
    }
  }

  /** Bridge options with the device's file key over Deno TLS; short backoff for tests. */
  async bridgeOptions(extra: Partial<BridgeOptions> & { extraRules?: BridgeRule[] } = {}) {
    const { extraRules = [], ...rest } = extra;
    const options: BridgeOptions = {
      rules: new BridgeRules([...this.profile.rules, ...extraRules]),
      local: {
        transport: tcpTransport({ hostname: "127.0.0.1", port: this.local.port }),
        clientId: this.profile.localClientId,
      },
      cloud: {
        transport: denoTlsTransport({
          hostname: "127.0.0.1",
          port: this.cloud.port,
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
    return await mqtt.connectAsync(`mqtts://127.0.0.1:${this.cloud.port}`, {
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

  async [Symbol.asyncDispose](): Promise<void> {
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
