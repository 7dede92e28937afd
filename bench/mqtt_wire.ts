/**
 * A lean MQTT 3.1.1 client for the load generator only (not the product: the bridge uses
 * mqtt.js through src/mqtt). It exists so that the load generator is never the bottleneck:
 * no per-message objects, promises or timers, packets built straight into bytes and every
 * packet queued in one tick written with one socket write.
 *
 * Supported: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH QoS 0/1 both ways, PUBACK, DISCONNECT
 * (MQTT 3.1.1, OASIS standard, section 3). Keepalive 0 (no PINGREQ needed).
 */
import { remainingLength } from "../tests/helpers/mqtt_bytes.ts";

export interface TlsEndpoint {
  caCerts: string[];
  /** Client certificate chain and key (PEM). */
  cert: string;
  key: string;
}

export interface Endpoint {
  port: number;
  /** Present for the cloud broker (TLS 1.3, client certificate required). */
  tls?: TlsEndpoint;
}

const enc = new TextEncoder();

function utf8String(s: string): number[] {
  const b = enc.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(first: number, body: number[]): Uint8Array {
  return new Uint8Array([first, ...remainingLength(body.length), ...body]);
}

/** A PUBLISH packet without its payload and packet id: built once per topic and QoS. */
export class PublishTemplate {
  readonly topic: Uint8Array;
  constructor(topic: string, readonly qos: 0 | 1, readonly payloadSize: number) {
    this.topic = enc.encode(topic);
  }

  /** Writes the header into `out` at 0; returns the payload offset. */
  #header(out: Uint8Array, id: number): number {
    const rest = 2 + this.topic.length + (this.qos ? 2 : 0) + this.payloadSize;
    let o = 0;
    out[o++] = 0x30 | (this.qos << 1); // PUBLISH, DUP 0, RETAIN 0
    for (const b of remainingLength(rest)) out[o++] = b;
    out[o++] = this.topic.length >> 8;
    out[o++] = this.topic.length & 0xff;
    out.set(this.topic, o);
    o += this.topic.length;
    if (this.qos) {
      out[o++] = id >> 8;
      out[o++] = id & 0xff;
    }
    return o;
  }

  get packetSize(): number {
    const rest = 2 + this.topic.length + (this.qos ? 2 : 0) + this.payloadSize;
    return 1 + remainingLength(rest).length + rest;
  }

  /** A fresh packet; the caller fills the payload through the returned view. */
  build(id: number): { packet: Uint8Array; payload: Uint8Array } {
    const p = new Uint8Array(this.packetSize);
    const at = this.#header(p, id);
    return { packet: p, payload: p.subarray(at) };
  }
}

export class WireClient {
  /** Incoming PUBLISH; `payload` is a view into the read buffer, valid during the call only. */
  onMessage: (payload: Uint8Array) => void = () => {};
  /** PUBACK for one of our QoS 1 publishes. */
  onPuback: (id: number) => void = () => {};
  #conn: Deno.Conn;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  #writing = false;
  #waiters = new Map<number, (p: Uint8Array) => void>(); // packet type -> next such packet
  #nextSubId = 1;
  #closed = false;
  /** Set when the connection failed (not after close()). */
  error: unknown;
  /** Resolves when the connection is gone; never rejects (see `error`). */
  readonly done: Promise<void>;

  private constructor(conn: Deno.Conn, readonly name: string) {
    this.#conn = conn;
    this.done = this.#readLoop();
  }

  /**
   * `onMessage` is set before the CONNECT goes out: a broker with a stored session sends what it
   * queued right behind the CONNACK, before `connect()` could hand the client back.
   */
  static async connect(
    ep: Endpoint,
    clientId: string,
    { clean = true, onMessage }: { clean?: boolean; onMessage?: (payload: Uint8Array) => void } =
      {},
  ) {
    const conn = ep.tls
      ? await Deno.connectTls({
        hostname: "127.0.0.1",
        port: ep.port,
        caCerts: ep.tls.caCerts,
        cert: ep.tls.cert,
        key: ep.tls.key,
      })
      : await Deno.connect({ hostname: "127.0.0.1", port: ep.port });
    if (!ep.tls) (conn as Deno.TcpConn).setNoDelay(true);
    const client = new WireClient(conn, clientId);
    if (onMessage) client.onMessage = onMessage;
    const connack = client.#next(0x20);
    // CONNECT (3.1.1 section 3.1): protocol "MQTT" level 4, flags, keepalive 0, client id.
    client.#send(
      packet(0x10, [
        ...utf8String("MQTT"),
        0x04,
        clean ? 0x02 : 0x00,
        0,
        0,
        ...utf8String(clientId),
      ]),
    );
    const ack = await withTimeout(connack, 30_000, `CONNACK for ${clientId}`);
    if (ack[1] !== 0) throw new Error(`Broker refused "${clientId}": CONNACK code ${ack[1]}`);
    return client;
  }

  /** SUBSCRIBE one filter (3.1.1 section 3.8) and wait for its SUBACK. */
  async subscribe(filter: string, qos: 0 | 1 = 1): Promise<void> {
    const id = this.#nextSubId++;
    const suback = this.#next(0x90);
    this.#send(packet(0x82, [id >> 8, id & 0xff, ...utf8String(filter), qos]));
    const ack = await withTimeout(suback, 30_000, `SUBACK for ${filter}`);
    if (ack[ack.length - 1] === 0x80) throw new Error(`Broker refused subscription "${filter}"`);
  }

  /** Queues a packet; everything queued in the same tick goes out in one write. */
  send(p: Uint8Array): void {
    this.#send(p);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#send(new Uint8Array([0xe0, 0x00])); // DISCONNECT
      await this.#drain();
    } catch { /* closing anyway */ }
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.done.catch(() => {});
  }

  #next(type: number): Promise<Uint8Array> {
    return new Promise((resolve) => this.#waiters.set(type, resolve));
  }

  #send(p: Uint8Array): void {
    if (this.#closed) return;
    this.#pending.push(p);
    this.#pendingBytes += p.length;
    if (!this.#flushScheduled && !this.#writing) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#pending.length && !this.#closed) {
        const out = this.#pending.length === 1 ? this.#pending[0] : concat(
          this.#pending,
          this.#pendingBytes,
        );
        this.#pending = [];
        this.#pendingBytes = 0;
        for (let o = 0; o < out.length;) o += await this.#conn.write(out.subarray(o));
      }
    } catch (e) {
      if (!this.#closed) console.error(`bench client ${this.name}: write failed: ${e}`);
    } finally {
      this.#writing = false;
    }
  }

  async #drain(): Promise<void> {
    for (let i = 0; i < 200 && (this.#pending.length || this.#writing); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(256 * 1024);
    let start = 0;
    let end = 0;
    const puback = new Uint8Array(4);
    while (true) {
      if (buf.length - end < 65536) {
        // Compact, or grow when one packet does not fit.
        if (start > 0) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        } else if (end === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
      }
      let n: number | null;
      try {
        n = await this.#conn.read(buf.subarray(end));
      } catch (e) {
        if (!this.#closed) this.error = e;
        return;
      }
      if (n === null) return;
      end += n;
      // Parse every complete packet in [start, end).
      while (end - start >= 2) {
        let len = 0;
        let mul = 1;
        let o = start + 1;
        let complete = false;
        for (; o < end && o < start + 5; o++) {
          len += (buf[o] & 0x7f) * mul;
          mul *= 128;
          if ((buf[o] & 0x80) === 0) {
            complete = true;
            o++;
            break;
          }
        }
        if (!complete || end - o < len) break;
        const type = buf[start] & 0xf0;
        if (type === 0x30) {
          const qos = (buf[start] >> 1) & 3;
          const topicLen = (buf[o] << 8) | buf[o + 1];
          let p = o + 2 + topicLen;
          if (qos > 0) {
            puback[0] = 0x40;
            puback[1] = 0x02;
            puback[2] = buf[p];
            puback[3] = buf[p + 1];
            this.#send(puback.slice());
            p += 2;
          }
          this.onMessage(buf.subarray(p, o + len));
        } else if (type === 0x40) {
          this.onPuback((buf[o] << 8) | buf[o + 1]);
        } else {
          const waiter = this.#waiters.get(type);
          if (waiter) {
            this.#waiters.delete(type);
            waiter(buf.slice(o, o + len));
          }
        }
        start = o + len;
      }
      if (start === end) start = end = 0;
    }
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
