/**
 * The bridge: two sides (local broker, cloud) that connect and reconnect independently, two
 * half bridges (one per direction), health, service messages and a clean shutdown.
 *
 *            local side (MQTT 5, persistent)             cloud side (MQTT 3.1.1, clean)
 *   local ──> out: local -> cloud half bridge ──────────────────────────────────────> cloud
 *   local <──────────────────────────────────────────── in: cloud -> local half bridge <── cloud
 *
 * The local connection uses MQTT 5 for what MQTT 3.1.1 lacks: Receive Maximum (how many
 * unacked messages the broker sends us: our pipeline depth, instead of mosquitto's default of
 * 20), No Local (our own publications do not come back, breaking loops on that side), Retain
 * As Published (the RETAIN flag reaches the cloud) and Retain Handling (re-subscribing does
 * not replay retained messages). The cloud side speaks MQTT 3.1.1, as thin-edge does, so a
 * cloud message only carries RETAIN when it was retained before we subscribed.
 *
 * With an outbox, local -> cloud is store and forward (stored_queue.ts): a QoS 1 message is
 * acked locally once it is on disk (or in the cloud) and leaves the outbox on the cloud's
 * PUBACK, so a cloud outage costs disk, not messages. Without one, it is acked locally on the
 * cloud's PUBACK.
 *
 * Only `cli` reads configuration; this takes a typed options object, and transport factories
 * so that the same bridge runs over our TLS client (token key), Deno TLS (file key) or TCP.
 */
import { HSM_TIMEOUT_MS } from "../timeouts.ts";
import { findKind } from "../errors.ts";
import { getLogger, type Logger } from "../log.ts";
import { MqttConnection, type Subscription, type TransportFactory } from "../mqtt/mod.ts";
import type { Outbox } from "../outbox/mod.ts";
import { Backoff, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
import type { ServiceMessage } from "./c8y.ts";
import { HalfBridge } from "./half_bridge.ts";
import { healthDownPayload, healthPayload } from "./health.ts";
import { IdleWatch } from "./idle.ts";
import { LoopBreaker } from "./loop_breaker.ts";
import type { BridgeRules } from "./rules.ts";
import { connectBlocked, Side } from "./side.ts";
import { StoredQueue } from "./stored_queue.ts";

export interface LocalSideOptions {
  readonly transport: TransportFactory;
  /** `tedge-mapper-bridge-<prefix>`. */
  readonly clientId: string;
  readonly keepaliveSeconds?: number;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  /** Pipeline depth local -> cloud (MQTT 5 Receive Maximum). Default 1000. */
  readonly receiveMaximum?: number;
}

export interface CloudSideOptions {
  readonly transport: TransportFactory;
  /** The device id. */
  readonly clientId: string;
  readonly keepaliveSeconds: number;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  readonly will?: ServiceMessage;
  /** Published on every CONNACK, once the subscription gate is open. */
  readonly onConnect?: readonly ServiceMessage[];
  /** Published before a clean shutdown. */
  readonly onShutdown?: readonly ServiceMessage[];
}

export interface BridgeOptions {
  readonly rules: BridgeRules;
  readonly local: LocalSideOptions;
  readonly cloud: CloudSideOptions;
  /** Retained `{"status":"up"|"down"}` on the local broker; also the local last will. */
  readonly healthTopic: string;
  /** Cloud-bound payloads above this are dropped (c8y.mapper.mqtt.max_payload_size). */
  readonly maxCloudPayloadBytes?: number;
  /**
   * Store and forward for local -> cloud QoS 1 messages (opened and closed by the caller).
   * Without it, a local message is acked when the cloud acked it.
   */
  readonly outbox?: Outbox;
  /** Backoff for each side (each has its own state). */
  readonly reconnect?: BackoffPolicy;
  /** Transport + CONNACK deadline; HSM_TIMEOUT_MS by default (a token may take seconds to sign). */
  readonly connectTimeoutMs?: number;
  /** Period of the counters log line; 0 = never. Default 60 s. */
  readonly statsIntervalMs?: number;
  /** How long `stop()` waits for in-flight acknowledgements. Default 5 s. */
  readonly shutdownGraceMs?: number;
  /** Called once per quiet period: nothing forwarded or dropped for `quietMs` (default 10 s). */
  readonly idle?: { readonly quietMs?: number; onIdle(): void };
  readonly log?: Logger;
}

export interface BridgeStats {
  forwardedToCloud: number;
  forwardedToLocal: number;
  droppedToCloud: number;
  droppedToLocal: number;
  echoesDropped: number;
  pendingToCloud: number;
  pendingToLocal: number;
  reconnectsLocal: number;
  reconnectsCloud: number;
  /** With an outbox: messages stored and not yet acked by the cloud. */
  outboxDepth?: number;
  /** With an outbox: age of the oldest stored message, ms (undefined when empty). */
  outboxOldestAgeMs?: number;
  /** With an outbox: bytes of stored messages, and messages waiting for room when full. */
  outboxBytes?: number;
  outboxWaitingForRoom?: number;
}

/** Local -> cloud pipeline depth (MQTT 5 Receive Maximum on the local connection). */
const DEFAULT_RECEIVE_MAXIMUM = 1000;
/** Cloud -> local messages held before reading from the cloud pauses. */
const CLOUD_PENDING_LIMIT = 1000;
/** The counters log line once a minute: often enough to see a trend, rare enough to read. */
const DEFAULT_STATS_INTERVAL_MS = 60_000;

function flow(conn: MqttConnection | undefined, paused: boolean): void {
  if (!conn?.isOpen) return;
  if (paused) conn.pauseInput();
  else conn.resumeInput();
}

/** MQTT 5 session expiry 0xFFFFFFFF: the session never expires (like MQTT 3.1.1 clean false). */
const SESSION_NEVER_EXPIRES = 0xFFFF_FFFF;

export class Bridge {
  readonly #opts: BridgeOptions;
  readonly #log: Logger;
  readonly #out: HalfBridge;
  readonly #in: HalfBridge;
  readonly #stored: StoredQueue | undefined;
  readonly #local: Side;
  readonly #cloud: Side;
  #healthConn: MqttConnection | undefined;
  /** The newest connection of each side (open or not), for flow control. */
  #localConn: MqttConnection | undefined;
  #cloudConn: MqttConnection | undefined;
  #healthUp: boolean | undefined;
  #healthReason: string | undefined;
  /** Why the cloud side cannot even try to connect (see ConnectBlockedError), while it cannot. */
  #cloudBlocked: string | undefined;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #idle: IdleWatch | undefined;
  #stopping: Promise<void> | undefined;
  #fatal!: (e: Error) => void;
  /** Rejects when the bridge cannot go on (a credential error while reconnecting). */
  readonly failed: Promise<never>;

  constructor(options: BridgeOptions) {
    this.#opts = options;
    const log = this.#log = options.log ?? getLogger("bridge");
    this.failed = new Promise<never>((_, reject) => this.#fatal = reject);
    this.failed.catch(() => {}); // observed by whoever awaits it
    const { rules } = options;
    const cloudEchoes = new LoopBreaker();
    const window = options.local.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM;
    const outbox = options.outbox;
    if (outbox) {
      this.#stored = new StoredQueue(outbox, log);
      outbox.onFatal = (e) => {
        this.#fatal(e);
        this.stop();
      };
    }
    this.#out = new HalfBridge({
      name: "local -> cloud",
      route: (t) => rules.routeToRemote(t)?.topic,
      maxPayloadBytes: options.maxCloudPayloadBytes,
      sourceRedelivers: true,
      queue: this.#stored,
      // From the outbox, as many in flight to the cloud as the local window (the drain rate
      // after an outage); without it, the local window bounds them.
      maxInFlight: outbox ? window : undefined,
      echoesToTarget: { breaker: cloudEchoes, echoes: (t) => rules.echoesFromRemote(t) },
      // The local broker should keep within our Receive Maximum; past twice that, stop
      // reading from it until half the backlog is acked.
      pressure: {
        high: 2 * window,
        low: window,
        onChange: (paused) => flow(this.#localConn, paused),
      },
      log,
    });
    this.#in = new HalfBridge({
      name: "cloud -> local",
      route: (t) => rules.routeToLocal(t)?.topic,
      sourceRedelivers: false,
      echoesFromSource: cloudEchoes,
      // MQTT 3.1.1 has no Receive Maximum; the cloud's own window is small (20 on mosquitto).
      pressure: {
        high: CLOUD_PENDING_LIMIT,
        low: CLOUD_PENDING_LIMIT / 2,
        onChange: (paused) => flow(this.#cloudConn, paused),
      },
      log,
    });
    this.#local = this.#localSide();
    this.#cloud = this.#cloudSide();
  }

  #localSide(): Side {
    const { rules, reconnect } = this.#opts;
    return new Side({
      name: "local",
      connect: (signal) => this.#connectLocal(signal),
      subscriptions: rules.localSubscriptions().map((filter): Subscription => ({
        filter,
        qos: 1,
        noLocal: true,
        retainAsPublished: true,
        retainOnlyIfNew: true,
      })),
      backoff: new Backoff(reconnect ?? DEFAULT_BACKOFF),
      log: this.#log,
      onUp: (conn) => {
        this.#in.targetReady(conn);
        this.#updateHealth();
      },
      onDown: (conn) => {
        this.#in.targetLost(conn);
        this.#out.sourceLost(conn);
      },
    });
  }

  #cloudSide(): Side {
    const { rules, reconnect, cloud } = this.#opts;
    return new Side({
      name: "cloud",
      connect: (signal) => this.#connectCloud(signal),
      subscriptions: rules.remoteSubscriptions().map((filter) => ({ filter, qos: 1 })),
      backoff: new Backoff(reconnect ?? DEFAULT_BACKOFF),
      log: this.#log,
      onUp: (conn) => {
        for (const m of cloud.onConnect ?? []) conn.publish(m.topic, m.payload, m);
        this.#out.targetReady(conn);
        this.#cloudBlocked = undefined;
        this.#updateHealth();
      },
      onDown: (conn) => {
        this.#out.targetLost(conn);
        this.#in.sourceLost(conn);
        this.#updateHealth();
      },
    });
  }

  /** Connects both sides and forwards until `stop()`. */
  start(): void {
    this.#log.info("Bridge starting", {
      local_subscriptions: this.#opts.rules.localSubscriptions().length,
      cloud_subscriptions: this.#opts.rules.remoteSubscriptions().length,
    });
    this.#local.start();
    this.#cloud.start();
    const every = this.#opts.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS;
    if (every > 0) this.#statsTimer = setInterval(() => this.#logStats(), every);
    const idle = this.#opts.idle;
    if (idle) {
      this.#idle = new IdleWatch(() => this.#activity(), () => idle.onIdle(), idle.quietMs);
      this.#idle.start();
    }
  }

  /** Messages handled so far, both ways (what the idle watch compares). */
  #activity(): number {
    const o = this.#out.counters, i = this.#in.counters;
    return o.forwarded + o.dropped + o.echoes + i.forwarded + i.dropped + i.echoes;
  }

  /** Both sides are connected (what the health topic says). */
  get up(): boolean {
    return !!this.#local.connection && !!this.#cloud.connection;
  }

  get stats(): BridgeStats {
    const outbox = this.#opts.outbox?.stats();
    return {
      forwardedToCloud: this.#out.counters.forwarded,
      forwardedToLocal: this.#in.counters.forwarded,
      droppedToCloud: this.#out.counters.dropped,
      droppedToLocal: this.#in.counters.dropped,
      echoesDropped: this.#in.counters.echoes,
      pendingToCloud: this.#out.pending,
      pendingToLocal: this.#in.pending,
      reconnectsLocal: this.#local.reconnects,
      reconnectsCloud: this.#cloud.reconnects,
      outboxDepth: outbox?.depth,
      outboxOldestAgeMs: outbox?.oldestAgeMs,
      outboxBytes: outbox?.bytes,
      outboxWaitingForRoom: this.#stored?.waitingForRoom,
    };
  }

  async #connectLocal(signal: AbortSignal): Promise<MqttConnection> {
    const o = this.#opts;
    const conn = await MqttConnection.open({
      label: "local",
      transport: o.local.transport,
      clientId: o.local.clientId,
      protocolVersion: 5,
      clean: false,
      sessionExpirySeconds: SESSION_NEVER_EXPIRES,
      receiveMaximum: o.local.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM,
      keepaliveSeconds: o.local.keepaliveSeconds ?? 60,
      connectTimeoutMs: o.connectTimeoutMs ?? HSM_TIMEOUT_MS,
      username: o.local.username,
      password: o.local.password,
      will: { topic: o.healthTopic, payload: healthPayload(false), qos: 1, retain: true },
      onMessage: (m, conn) => this.#out.accept(m, conn),
      signal,
    });
    this.#localConn = conn;
    flow(conn, this.#out.pressured);
    return conn;
  }

  async #connectCloud(signal: AbortSignal): Promise<MqttConnection> {
    const o = this.#opts;
    try {
      const conn = await MqttConnection.open({
        label: "cloud",
        transport: o.cloud.transport,
        clientId: o.cloud.clientId,
        protocolVersion: 4,
        clean: true,
        keepaliveSeconds: o.cloud.keepaliveSeconds,
        connectTimeoutMs: o.connectTimeoutMs ?? HSM_TIMEOUT_MS,
        username: o.cloud.username,
        password: o.cloud.password,
        will: o.cloud.will,
        onMessage: (m, conn) => this.#in.accept(m, conn),
        signal,
      });
      this.#cloudConn = conn;
      flow(conn, this.#in.pressured);
      return conn;
    } catch (e) {
      // A configuration or credential error (a PIN the token refused, say) will not heal by
      // retrying, and retrying a PIN can lock the token: stop the bridge instead.
      const fatal = credentialError(e);
      if (fatal) {
        this.#fatal(fatal);
        this.stop();
      }
      this.#cloudBlocked = connectBlocked(e)?.message;
      this.#updateHealth();
      throw e;
    }
  }

  #updateHealth(): void {
    const local = this.#local.connection;
    if (!local || this.#stopping) return;
    const up = !!this.#cloud.connection;
    const reason = up ? undefined : this.#cloudBlocked;
    if (this.#healthConn === local && this.#healthUp === up && this.#healthReason === reason) {
      return; // only on change
    }
    this.#healthConn = local;
    this.#healthUp = up;
    this.#healthReason = reason;
    const payload = reason === undefined ? healthPayload(up) : healthDownPayload(reason);
    local.publish(this.#opts.healthTopic, payload, { qos: 1, retain: true });
    this.#log.info(`Health ${up ? "up" : "down"}`, { topic: this.#opts.healthTopic, reason });
  }

  #logStats(): void {
    const s = this.stats;
    this.#log.info("Bridge counters", {
      forwarded_to_cloud: s.forwardedToCloud,
      forwarded_to_local: s.forwardedToLocal,
      dropped_to_cloud: s.droppedToCloud,
      dropped_to_local: s.droppedToLocal,
      echoes_dropped: s.echoesDropped,
      pending_to_cloud: s.pendingToCloud,
      pending_to_local: s.pendingToLocal,
      reconnects_local: s.reconnectsLocal,
      reconnects_cloud: s.reconnectsCloud,
      outbox_depth: s.outboxDepth,
      outbox_oldest_age_s: s.outboxOldestAgeMs === undefined
        ? undefined
        : Math.round(s.outboxOldestAgeMs / 1000),
      outbox_bytes: s.outboxBytes,
      outbox_waiting_for_room: s.outboxWaitingForRoom || undefined,
    });
  }

  /**
   * Clean shutdown (SIGTERM):
   * 1. stop taking new messages (QoS 1 ones stay unacked at their broker);
   * 2. wait up to `shutdownGraceMs` for the PUBACKs of what is in flight;
   * 3. publish health down locally and the shutdown service messages to the cloud;
   * 4. DISCONNECT both sides; what is still in flight stays unacked at its source.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const grace = this.#opts.shutdownGraceMs ?? 5_000;
    this.#idle?.stop();
    this.#log.info("Bridge stopping", {
      in_flight_to_cloud: this.#out.inFlight,
      in_flight_to_local: this.#in.inFlight,
    });
    this.#out.stopAccepting();
    this.#in.stopAccepting();
    // What waits for a commit is committed now, so that its local acks go out before the
    // local connection ends (else the broker sends it again next time: a duplicate).
    if (this.#opts.outbox) await within(this.#opts.outbox.flush(), grace);
    const drained = await within(Promise.all([this.#out.idle(), this.#in.idle()]), grace);
    if (!drained) {
      this.#log.warn("Stopping with messages still unacknowledged (they are sent again later)", {
        in_flight_to_cloud: this.#out.inFlight,
        in_flight_to_local: this.#in.inFlight,
      });
    }
    const [local, cloud] = await Promise.all([this.#local.stop(), this.#cloud.stop()]);
    const finals: Promise<unknown>[] = [];
    if (local?.isOpen) {
      finals.push(publishAcked(local, {
        topic: this.#opts.healthTopic,
        payload: healthPayload(false),
        qos: 1,
        retain: true,
      }));
    }
    if (cloud?.isOpen) {
      for (const m of this.#opts.cloud.onShutdown ?? []) finals.push(publishAcked(cloud, m));
    }
    await within(Promise.all(finals), 2_000);
    await Promise.all([local?.end(), cloud?.end()]);
    // No PUBACK is awaited any more: what is still in flight leaves the in-flight sets.
    this.#out.stop();
    this.#in.stop();
    clearInterval(this.#statsTimer);
    this.#logStats();
    this.#log.info("Bridge stopped");
  }
}

/** The credential or configuration error in `e`'s cause chain, if any: retrying cannot fix it. */
function credentialError(e: unknown): Error | undefined {
  return findKind(e, "credential") ?? findKind(e, "configuration");
}

function publishAcked(conn: MqttConnection, m: ServiceMessage): Promise<void> {
  return new Promise((resolve) => conn.publish(m.topic, m.payload, m, () => resolve()));
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
