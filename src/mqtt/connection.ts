/**
 * One MQTT connection (one mqtt.js client over one transport, no automatic reconnect): the
 * bridge reconnects by opening a new `MqttConnection`, with its own backoff.
 *
 * Manual acknowledgement of incoming QoS 1 messages works on MQTT 3.1.1 and 5 alike, through
 * mqtt.js's documented `handleMessage(packet, callback)` hook:
 *
 * 1. mqtt.js parses a PUBLISH and calls `handleMessage`; we hand the message to the bridge and
 *    call back at once with a marker error. mqtt.js then skips the PUBACK (its QoS 1 path only
 *    sends one when the callback succeeds) and goes on to the next packet, so the broker can
 *    keep its whole in-flight window coming.
 * 2. When the other side has taken the message, `ack(messageId)` queues its PUBACK; the
 *    PUBACKs queued in one event-loop turn go out together (acks.ts).
 * 3. A message never acked is redelivered by the broker on the next connection of a
 *    persistent session (MQTT 3.1.1 section 4.4).
 *
 * (`customHandleAcks` would be the other route, but mqtt.js honours it on MQTT 5 only.)
 */
import "./_quiet_debug.ts"; // before mqtt.js loads
import { Buffer } from "node:buffer";
import { type IClientOptions, MqttClient } from "mqtt";
import { AckBatcher } from "./acks.ts";
import { storeWithoutCopy } from "./_mqttjs.ts";
import { type TransportDuplex, transportDuplex } from "./duplex.ts";
import type { ByteTransport, TransportFactory } from "./transport.ts";

export type QoS = 0 | 1;

export interface Will {
  topic: string;
  payload: string | Uint8Array;
  qos: QoS;
  retain: boolean;
}

/** A PUBLISH received from the broker. QoS 1 messages wait for `ack(messageId)`. */
export interface IncomingMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  /** Set for QoS 1. */
  readonly messageId?: number;
}

export interface Subscription {
  filter: string;
  qos: QoS;
  /** MQTT 5 No Local: do not send us our own messages back (section 3.8.3.1). */
  noLocal?: boolean;
  /** MQTT 5 Retain Handling 1: retained messages only for a new subscription. */
  retainOnlyIfNew?: boolean;
  /** MQTT 5 Retain As Published: keep the publisher's RETAIN flag (section 3.8.3.1). */
  retainAsPublished?: boolean;
}

export interface MqttConnectionOptions {
  /** "local" or "cloud": names the broker in errors. */
  label: string;
  transport: TransportFactory;
  clientId: string;
  protocolVersion: 4 | 5;
  clean: boolean;
  keepaliveSeconds: number;
  /** Transport + CONNACK must complete within this time. */
  connectTimeoutMs: number;
  username?: string;
  password?: string | Uint8Array;
  will?: Will;
  /** MQTT 5: session expiry (seconds) for a persistent session; 0xFFFFFFFF = never. */
  sessionExpirySeconds?: number;
  /** MQTT 5: how many QoS 1 messages the broker may have unacked towards us. */
  receiveMaximum?: number;
  /** Called for every PUBLISH, in order; QoS 1 ones stay unacked until `ack()`. */
  onMessage: (message: IncomingMessage, connection: MqttConnection) => void;
  signal?: AbortSignal;
}

/** The connection could not be established (refused, timed out, transport failed). */
export class MqttConnectError extends Error {
  constructor(message: string, readonly code?: string | number, options?: ErrorOptions) {
    super(message, options);
    this.name = "MqttConnectError";
  }
}

/** MQTT 3.1.1 CONNACK return codes (section 3.2.2.3). */
const CONNACK_3_1_1: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** Marker passed to mqtt.js's handleMessage callback: "do not PUBACK yet". */
const HOLD_ACK = new Error("PUBACK held until the message is forwarded");

type PublishCallback = (error?: Error) => void;

export class MqttConnection {
  #client!: MqttClient;
  #duplex!: TransportDuplex;
  #acks!: AckBatcher;
  #open = false;
  #lastError: Error | undefined;
  #closeReason: string | undefined;
  #resolveClosed!: (reason: string) => void;
  /** Settles with the reason once the connection is gone (never rejects). */
  readonly closed: Promise<string>;
  #sessionPresent = false;

  private constructor(readonly options: MqttConnectionOptions) {
    this.closed = new Promise((r) => this.#resolveClosed = r);
  }

  /** Connects: transport, CONNECT, CONNACK. Throws MqttConnectError when that fails. */
  static async open(options: MqttConnectionOptions): Promise<MqttConnection> {
    const conn = new MqttConnection(options);
    const deadline = Date.now() + options.connectTimeoutMs;
    const transport = await withTimeout(
      options.transport(options.signal),
      options.connectTimeoutMs,
      options.signal,
      `${options.label} broker: connect timed out after ${options.connectTimeoutMs} ms`,
    );
    await conn.#start(transport, Math.max(1, deadline - Date.now()));
    return conn;
  }

  /** Whether the broker told us it still had our session (CONNACK session present). */
  get sessionPresent(): boolean {
    return this.#sessionPresent;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  #start(transport: ByteTransport, timeoutMs: number): Promise<void> {
    const o = this.options;
    const duplex = this.#duplex = transportDuplex(transport);
    const client = new MqttClient(() => duplex, clientOptions(o, timeoutMs));
    this.#client = client;
    storeWithoutCopy(client);
    // PUBACKs bypass mqtt.js: whole packets into the same stream, so never inside another.
    this.#acks = new AckBatcher((bytes) => {
      if (this.#open && !duplex.writableEnded && !duplex.destroyed) duplex.write(bytes);
    });
    client.handleMessage = (packet, callback) => {
      const qos = packet.qos === 0 ? 0 : 1;
      const message: IncomingMessage = {
        topic: packet.topic,
        payload: packet.payload as Buffer,
        qos,
        retain: packet.retain,
        dup: packet.dup,
        messageId: qos === 1 ? packet.messageId : undefined,
      };
      try {
        this.options.onMessage(message, this);
      } finally {
        // QoS 1: no PUBACK now (see the top of this file). QoS 2 is never subscribed to.
        if (packet.qos === 1) callback(HOLD_ACK);
        else callback();
      }
    };
    client.on("error", (e) => {
      if (e !== HOLD_ACK) this.#lastError = e;
    });
    client.on("disconnect", (packet) => {
      this.#lastError = new Error(`broker sent DISCONNECT (reason code ${packet.reasonCode})`);
    });
    client.on("close", () => this.#onClose());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => client.end(true);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      client.once("connect", (connack) => {
        o.signal?.removeEventListener("abort", onAbort);
        this.#open = true;
        this.#sessionPresent = connack.sessionPresent;
        resolve();
      });
      this.closed.then((reason) => {
        o.signal?.removeEventListener("abort", onAbort);
        if (!this.#open) {
          reject(
            new MqttConnectError(`${o.label} broker: ${reason}`, codeOf(this.#lastError), {
              cause: this.#lastError,
            }),
          );
        }
      });
    });
  }

  #onClose(): void {
    if (this.#closeReason !== undefined) return;
    this.#open = false;
    this.#acks.clear();
    this.#closeReason = this.#describeClose();
    // A closed mqtt.js client must not try to reconnect or keep timers.
    this.#client.end(true);
    this.#resolveClosed(this.#closeReason);
  }

  #describeClose(): string {
    const e = this.#lastError;
    if (!e) return this.options.signal?.aborted ? "aborted" : "connection closed by the peer";
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number" && /^Connection refused/.test(e.message)) {
      const text = this.options.protocolVersion === 4 ? CONNACK_3_1_1[code] : undefined;
      return `connection refused: ${text ?? e.message.replace(/^Connection refused: /, "")}` +
        ` (code ${code})`;
    }
    if (e.message === "connack timeout") {
      return `no CONNACK within ${this.options.connectTimeoutMs} ms`;
    }
    return e.message;
  }

  /**
   * Subscribes; resolves with the granted QoS per filter (128 = refused by the broker).
   */
  subscribe(subscriptions: Subscription[]): Promise<number[]> {
    const map: Record<string, { qos: QoS; nl?: boolean; rap?: boolean; rh?: number }> = {};
    for (const s of subscriptions) {
      map[s.filter] = this.options.protocolVersion === 5
        ? {
          qos: s.qos,
          nl: s.noLocal ?? false,
          rap: s.retainAsPublished ?? false,
          rh: s.retainOnlyIfNew ? 1 : 0,
        }
        : { qos: s.qos };
    }
    return new Promise((resolve, reject) => {
      this.#client.subscribe(map, (err, granted) => {
        if (err) reject(err);
        else {
          const byTopic = new Map((granted ?? []).map((g) => [g.topic, g.qos]));
          resolve(subscriptions.map((s) => byTopic.get(s.filter) ?? 128));
        }
      });
    });
  }

  /**
   * Publishes. QoS 1: `callback` runs on the broker's PUBACK (with an error carrying a numeric
   * `code` when an MQTT 5 broker refused the message); QoS 0: once written. On a closed
   * connection the callback gets an error at once (no code) and nothing is sent.
   */
  publish(
    topic: string,
    payload: Uint8Array | string,
    opts: { qos: QoS; retain: boolean },
    callback?: PublishCallback,
  ): void {
    if (!this.#open) {
      // A closed mqtt.js client has closed its stores; publishing would throw.
      callback?.(new Error("Connection closed"));
      return;
    }
    // mqtt.js calls back with (error, packet); ours ignores the packet.
    this.#client.publish(topic, toBuffer(payload), opts, callback);
  }

  /**
   * Sends the PUBACK of a held QoS 1 message within this event-loop turn (nothing when the
   * connection is gone: a persistent session's broker redelivers the message).
   */
  ack(messageId: number): void {
    if (this.#open) this.#acks.add(messageId);
  }

  /**
   * Stops reading from the broker (TCP backpressure): used when the broker sends more
   * unacked messages than the Receive Maximum we asked for. Incoming PUBACKs and PINGRESPs
   * wait too, so keep pauses short.
   */
  pauseInput(): void {
    this.#duplex.pauseInput();
  }

  resumeInput(): void {
    this.#duplex.resumeInput();
  }

  /** Sends DISCONNECT and closes (no last will). Resolves once closed. */
  async end(timeoutMs = 2_000): Promise<void> {
    if (this.#open) {
      this.#lastError = new Error("disconnected by the bridge");
      this.#acks.flush(); // before the DISCONNECT
      // mqtt.js sends DISCONNECT only once its outgoing packets are acknowledged, and ignores
      // end(true) while it waits: past the deadline, close the stream under it.
      this.#client.end(false);
      const timer = setTimeout(() => this.#duplex.destroy(), timeoutMs);
      await this.closed;
      clearTimeout(timer);
    } else {
      this.destroy("closed by the bridge");
      await this.closed;
    }
  }

  /** Drops the connection at once (the broker sends our last will). */
  destroy(reason = "closed by the bridge"): void {
    if (this.#closeReason === undefined) this.#lastError = new Error(reason);
    this.#client.end(true);
    // During a graceful end() mqtt.js ignores end(true): close the stream ourselves.
    if (!this.#duplex.destroyed) this.#duplex.destroy();
  }
}

/** mqtt.js options for one connection: no automatic reconnect, no offline queue. */
function clientOptions(o: MqttConnectionOptions, timeoutMs: number): IClientOptions {
  const properties: Record<string, number> = {};
  if (o.protocolVersion === 5) {
    if (o.sessionExpirySeconds !== undefined) {
      properties.sessionExpiryInterval = o.sessionExpirySeconds;
    }
    if (o.receiveMaximum !== undefined) properties.receiveMaximum = o.receiveMaximum;
  }
  return {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    clean: o.clean,
    keepalive: o.keepaliveSeconds,
    connectTimeout: timeoutMs,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    // Per-message costs that show in profiles: mqtt.js's debug logging (~20 calls per
    // message, each checking whether it is enabled) and re-arming the keepalive timer on
    // every packet. Without the latter, a PINGREQ simply goes out every keepalive period.
    log: noop,
    reschedulePings: false,
    username: o.username,
    password: typeof o.password === "string" || o.password === undefined
      ? o.password
      : Buffer.from(o.password),
    will: o.will
      ? {
        topic: o.will.topic,
        payload: toBuffer(o.will.payload),
        qos: o.will.qos,
        retain: o.will.retain,
      }
      : undefined,
    properties: Object.keys(properties).length ? properties : undefined,
  };
}

function noop(): void {}

function toBuffer(payload: Uint8Array | string): Buffer | string {
  if (typeof payload === "string" || Buffer.isBuffer(payload)) return payload as Buffer | string;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

function codeOf(e: Error | undefined): string | number | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" || typeof code === "number" ? code : undefined;
}

async function withTimeout<T extends ByteTransport>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  message: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MqttConnectError(message, "ETIMEDOUT")), ms);
    onAbort = () => reject(new MqttConnectError("connect aborted", "EABORT"));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, guard]);
  } catch (e) {
    // A transport that arrives after we gave up must not leak.
    promise.then((t) => t.close(), () => {});
    if (e instanceof MqttConnectError) throw e;
    const code = (e as { code?: unknown }).code;
    throw new MqttConnectError(
      `${message.split(":")[0]}: ${(e as Error).message}`,
      typeof code === "string" ? code : undefined,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
