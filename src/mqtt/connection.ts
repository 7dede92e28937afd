/**
 * One MQTT connection (one mqtt.js client over one transport, no automatic reconnect): the
 * bridge reconnects by opening a new `MqttConnection`, with its own backoff.
 *
 * Incoming QoS 0 and 1 PUBLISHes are decoded by inbound.ts, before mqtt.js sees the bytes (its
 * parser and streams were most of the per-message work); mqtt.js gets every other packet.
 * Manual acknowledgement of incoming QoS 1 messages works on MQTT 3.1.1 and 5 alike:
 *
 * 1. A PUBLISH goes to the bridge once mqtt.js has handled the CONNACK (one that came with it
 *    waits for it). One that inbound.ts leaves to mqtt.js comes through mqtt.js's documented
 *    `handleMessage(packet, callback)` hook: we call back at once with a marker error, and
 *    mqtt.js then skips the PUBACK (its QoS 1 path only sends one when the callback succeeds)
 *    and goes on to the next packet, so the broker can keep its whole in-flight window coming.
 * 2. When the other side has taken the message, `ack(messageId)` queues its PUBACK; the
 *    PUBACKs queued in one event-loop turn go out together (acks.ts).
 * 3. A message never acked is redelivered by the broker on the next connection of a
 *    persistent session (MQTT 3.1.1 section 4.4).
 *
 * (`customHandleAcks` would be the other route, but mqtt.js honours it on MQTT 5 only.)
 */
import "./_quiet_debug.ts"; // before mqtt.js loads
import { Buffer } from "node:buffer";
import { ErrorWithReasonCode, type IClientOptions, MqttClient, ReasonCodes } from "mqtt";
import { AckBatcher } from "./acks.ts";
import { type TransportDuplex, transportDuplex } from "./duplex.ts";
import { type InboundPublish, InboundSplitter } from "./inbound.ts";
import { PacketIds, publishHeader } from "./outbound.ts";
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

/**
 * Why a connection could not be established: the broker refused the CONNECT (its CONNACK return
 * code in `returnCode`), no CONNACK came in time, the caller aborted, the transport (TCP, TLS)
 * failed, or the broker closed the connection before its CONNACK.
 */
export type ConnectFailure = "refused" | "timeout" | "aborted" | "transport" | "closed";

/**
 * The connection could not be established. Decisions read `reason` and `returnCode`, never the
 * message, which is `<label> broker: <detail>` for people.
 */
export class MqttConnectError extends Error {
  readonly reason: ConnectFailure;
  /** The CONNACK return code (MQTT 3.1.1) or reason code (MQTT 5) of a refusal. */
  readonly returnCode: number | undefined;
  /** The Node-style code of a transport failure (`ECONNREFUSED`), else the return code. */
  readonly code: string | number | undefined;
  /** The message without the broker's label. */
  readonly detail: string;

  constructor(
    label: string,
    detail: string,
    failure: { reason: ConnectFailure; returnCode?: number; code?: string },
    options?: ErrorOptions,
  ) {
    super(`${label} broker: ${detail}`, options);
    this.name = "MqttConnectError";
    this.reason = failure.reason;
    this.returnCode = failure.returnCode;
    this.code = failure.code ?? failure.returnCode;
    this.detail = detail;
  }
}

/**
 * Why a QoS 1 publish did not complete: the broker refused the message (an MQTT 5 PUBACK reason
 * code of 0x80 or more, in `reasonCode`: resending would fail the same way), or the connection
 * was lost before its PUBACK (the message can be sent again on the next connection).
 */
export class MqttPublishError extends Error {
  readonly reason: "refused" | "connection-lost";
  readonly reasonCode: number | undefined;

  constructor(
    message: string,
    failure: { reason: "refused" | "connection-lost"; reasonCode?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "MqttPublishError";
    this.reason = failure.reason;
    this.reasonCode = failure.reasonCode;
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

/** From this size on, a PUBLISH's payload is written after its header instead of copied in. */
const SEPARATE_PAYLOAD_BYTES = 1024;

/** Marker passed to mqtt.js's handleMessage callback: "do not PUBACK yet". */
const HOLD_ACK = new Error("PUBACK held until the message is forwarded");

type PublishCallback = (error?: MqttPublishError) => void;

export class MqttConnection {
  #client!: MqttClient;
  #duplex!: TransportDuplex;
  #acks!: AckBatcher;
  #open = false;
  #lastError: Error | undefined;
  /** The broker's CONNACK return code when it refused the CONNECT. */
  #refusedWith: number | undefined;
  /** Set when no CONNACK came within the connect timeout. */
  #connackTimedOut = false;
  #closeReason: string | undefined;
  #resolveClosed!: (reason: string) => void;
  /** Settles with the reason once the connection is gone (never rejects). */
  readonly closed: Promise<string>;
  #sessionPresent = false;
  /** PUBLISHes decoded before mqtt.js had handled the CONNACK. */
  #early: InboundPublish[] = [];
  /** Packet identifiers, shared with mqtt.js (its messageIdProvider). */
  readonly #ids = new PacketIds();
  /** Our QoS 1 PUBLISHes waiting for their PUBACK, by packet identifier. */
  readonly #outgoing = new Map<number, PublishCallback | undefined>();
  #onOutgoingEmpty: (() => void) | undefined;
  /** end() has begun: no new PUBLISH goes out. */
  #ending = false;

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
      options.label,
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
    // QoS 0/1 PUBLISHes are decoded in inbound.ts; mqtt.js sees every other packet.
    const splitter = new InboundSplitter(
      o.protocolVersion === 5,
      (m) => this.#inbound(m),
      (id, reasonCode) => this.#puback(id, reasonCode),
    );
    const duplex = this.#duplex = transportDuplex(transport, (chunk) => splitter.split(chunk));
    const client = new MqttClient(() => duplex, {
      ...clientOptions(o, timeoutMs),
      messageIdProvider: this.#ids,
    });
    this.#client = client;
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
      if (e === HOLD_ACK) return;
      this.#lastError = e;
      // Before CONNACK, mqtt.js reports a refusal as an ErrorWithReasonCode (its public API).
      if (!this.#open && e instanceof ErrorWithReasonCode) this.#refusedWith = e.code;
    });
    client.on("disconnect", (packet) => {
      this.#lastError = new Error(`broker sent DISCONNECT (reason code ${packet.reasonCode})`);
    });
    client.on("close", () => this.#onClose());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => client.end(true);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      // Our own CONNACK deadline (mqtt.js's own is set later, as a backstop), so that a
      // timeout is known as one rather than read from an error text.
      const connackTimer = setTimeout(() => {
        this.#connackTimedOut = true;
        this.destroy(`no CONNACK within ${timeoutMs} ms`);
      }, timeoutMs);
      client.once("connect", (connack) => {
        clearTimeout(connackTimer);
        o.signal?.removeEventListener("abort", onAbort);
        this.#open = true;
        this.#sessionPresent = connack.sessionPresent;
        resolve();
        // Messages that came with the CONNACK (a persistent session's), in order.
        const early = this.#early;
        this.#early = [];
        for (const m of early) this.#inbound(m);
      });
      this.closed.then((reason) => {
        clearTimeout(connackTimer);
        o.signal?.removeEventListener("abort", onAbort);
        if (!this.#open) reject(this.#connectError(reason));
      });
    });
  }

  /** A PUBACK: true when it was for one of our PUBLISHes (else mqtt.js gets it). */
  #puback(id: number, reasonCode: number): boolean {
    if (!this.#outgoing.has(id)) return false;
    const callback = this.#outgoing.get(id);
    this.#outgoing.delete(id);
    this.#ids.deallocate(id);
    if (this.#outgoing.size === 0) this.#onOutgoingEmpty?.();
    // MQTT 5 section 3.4.2.1: 0x80 and above are failures.
    callback?.(
      reasonCode >= 0x80
        ? new MqttPublishError(
          `Publish error: ${(ReasonCodes as Record<number, string>)[reasonCode] ?? "unknown"}`,
          { reason: "refused", reasonCode },
        )
        : undefined,
    );
    return true;
  }

  /** A PUBLISH decoded by inbound.ts: to the bridge once the connection is open. */
  #inbound(m: InboundPublish): void {
    if (this.#closeReason !== undefined) return; // gone: a QoS 1 message comes again
    if (!this.#open) {
      this.#early.push(m);
      return;
    }
    try {
      this.options.onMessage(m, this);
    } catch (e) {
      this.#lastError = e as Error;
      this.destroy(`handling a message failed: ${(e as Error).message}`);
    }
  }

  /** The MqttConnectError for a connection that closed before its CONNACK. */
  #connectError(detail: string): MqttConnectError {
    const reason: ConnectFailure = this.#refusedWith !== undefined
      ? "refused"
      : this.#connackTimedOut
      ? "timeout"
      : this.options.signal?.aborted
      ? "aborted"
      : "closed";
    return new MqttConnectError(this.options.label, detail, {
      reason,
      returnCode: this.#refusedWith,
      code: stringCode(this.#lastError),
    }, { cause: this.#lastError });
  }

  #onClose(): void {
    if (this.#closeReason !== undefined) return;
    this.#open = false;
    this.#acks.clear();
    this.#early = [];
    // Our PUBLISHes without a PUBACK: the bridge sends them again on the next connection.
    const lost = [...this.#outgoing.values()];
    this.#outgoing.clear();
    this.#ids.clear();
    this.#onOutgoingEmpty?.();
    for (const callback of lost) {
      callback?.(new MqttPublishError("Connection closed", { reason: "connection-lost" }));
    }
    this.#closeReason = this.#describeClose();
    // A closed mqtt.js client must not try to reconnect or keep timers.
    this.#client.end(true);
    this.#resolveClosed(this.#closeReason);
  }

  #describeClose(): string {
    const code = this.#refusedWith;
    if (code !== undefined) {
      const text = this.options.protocolVersion === 4 ? CONNACK_3_1_1[code] : undefined;
      return `connection refused: ${
        text ?? (ReasonCodes as Record<number, string>)[code] ?? "unknown reason"
      } (code ${code})`;
    }
    const e = this.#lastError;
    if (!e) return this.options.signal?.aborted ? "aborted" : "connection closed by the peer";
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
   * Publishes. QoS 1: `callback` runs on the broker's PUBACK (with an MqttPublishError whose
   * reason is "refused" when an MQTT 5 broker refused the message); QoS 0: once written. On a
   * closed connection the callback gets a "connection-lost" error at once and nothing is sent.
   */
  publish(
    topic: string,
    payload: Uint8Array | string,
    opts: { qos: QoS; retain: boolean },
    callback?: PublishCallback,
  ): void {
    const duplex = this.#duplex;
    if (!this.#open || this.#ending || duplex.writableEnded || duplex.destroyed) {
      // Closed, or ending (as mqtt.js refuses a publish while it disconnects).
      callback?.(new MqttPublishError("Connection closed", { reason: "connection-lost" }));
      return;
    }
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    let messageId: number | undefined;
    if (opts.qos === 1) {
      const id = this.#ids.allocate();
      if (id === null) {
        callback?.(
          new MqttPublishError("No packet identifier free: 65535 messages in flight", {
            reason: "connection-lost",
          }),
        );
        return;
      }
      messageId = id;
      this.#outgoing.set(id, callback);
    }
    const o = {
      qos: opts.qos,
      retain: opts.retain,
      messageId,
      v5: this.options.protocolVersion === 5,
    };
    const written = opts.qos === 0 && callback ? () => callback() : undefined;
    if (bytes.length < SEPARATE_PAYLOAD_BYTES) {
      duplex.write(publishHeader(topic, bytes.length, o, bytes), written);
      return;
    }
    // A large payload follows its header as it is: the Duplex gathers both into its reused
    // buffer (duplex.ts) instead of a new buffer per message.
    duplex.cork();
    duplex.write(publishHeader(topic, bytes.length, o));
    duplex.write(toBuffer(bytes), written);
    duplex.uncork();
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
      this.#ending = true;
      this.#lastError = new Error("disconnected by the bridge");
      this.#acks.flush(); // before the DISCONNECT
      // DISCONNECT only once our PUBLISHes are acknowledged (as mqtt.js does for its own, and
      // it ignores end(true) while it waits): past the deadline, close the stream under it.
      const timer = setTimeout(() => this.#duplex.destroy(), timeoutMs);
      if (this.#outgoing.size > 0) {
        await Promise.race([
          new Promise<void>((r) => this.#onOutgoingEmpty = r),
          this.closed,
        ]);
      }
      if (this.#closeReason === undefined) this.#client.end(false);
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
    // Ours fires first (see #start); this one only backs it up.
    connectTimeout: timeoutMs + 1_000,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    // Per-message costs that show in profiles: mqtt.js's debug logging (~20 calls per
    // message, each checking whether it is enabled) and re-arming the keepalive timer on
    // every packet. Without the latter, a PINGREQ simply goes out every keepalive period.
    log: noop,
    reschedulePings: false,
    // mqtt-packet's default pre-builds a Buffer for each of the 65,536 two-byte numbers
    // (message ids, lengths) on the first packet it writes: 6.8 MB of V8 heap for the life
    // of the process, a tenth of an idle bridge's RSS (bench/FINDINGS.md). Without it, a
    // number is a 2-byte slice of the Buffer pool when written.
    writeCache: false,
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

/** The Node-style code (`ECONNREFUSED`) a transport error carries, if any. */
function stringCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

async function withTimeout<T extends ByteTransport>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  label: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new MqttConnectError(label, `connect timed out after ${ms} ms`, {
            reason: "timeout",
            code: "ETIMEDOUT",
          }),
        ),
      ms,
    );
    onAbort = () =>
      reject(new MqttConnectError(label, "connect aborted", { reason: "aborted", code: "EABORT" }));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, guard]);
  } catch (e) {
    // A transport that arrives after we gave up must not leak.
    promise.then((t) => t.close(), () => {});
    if (e instanceof MqttConnectError) throw e;
    throw new MqttConnectError(label, (e as Error).message, {
      reason: "transport",
      code: stringCode(e),
    }, { cause: e });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
