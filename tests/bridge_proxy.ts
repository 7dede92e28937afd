/**
 * A TCP proxy on loopback for fault tests: it forwards bytes both ways, and can hold back
 * what the client sends (a stalled network path) and then drop it, the way packets in flight
 * are lost when a device dies. TLS passes through untouched.
 */

interface Pair {
  client: Deno.Conn;
  server: Deno.Conn;
  held: Uint8Array[];
}

export class HoldingProxy {
  readonly #listener: Deno.Listener;
  readonly #pairs = new Set<Pair>();
  #holding = false;
  #tasks: Promise<void>[] = [];

  private constructor(listener: Deno.Listener, readonly targetPort: number) {
    this.#listener = listener;
    this.#tasks.push(this.#accept());
  }

  static start(targetPort: number): HoldingProxy {
    return new HoldingProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), targetPort);
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Bytes held back from clients so far. */
  get heldBytes(): number {
    let n = 0;
    for (const p of this.#pairs) for (const c of p.held) n += c.length;
    return n;
  }

  /** From now on, keep what clients send instead of forwarding it. */
  hold(): void {
    this.#holding = true;
  }

  /** Closes every connection, losing what was held; new connections flow normally. */
  dropAll(): void {
    this.#holding = false;
    for (const p of this.#pairs) this.#close(p);
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      } catch {
        client.close();
        continue;
      }
      const pair: Pair = { client, server, held: [] };
      this.#pairs.add(pair);
      this.#tasks.push(this.#pipeUp(pair), this.#pipeDown(pair));
    }
  }

  async #pipeUp(p: Pair): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await p.client.read(buf);
        if (n === null) break;
        const chunk = buf.slice(0, n);
        if (this.#holding) p.held.push(chunk);
        else await writeAll(p.server, chunk);
      }
    } catch { /* closed */ }
    this.#close(p);
  }

  async #pipeDown(p: Pair): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await p.server.read(buf);
        if (n === null) break;
        await writeAll(p.client, buf.subarray(0, n));
      }
    } catch { /* closed */ }
    this.#close(p);
  }

  #close(p: Pair): void {
    if (!this.#pairs.delete(p)) return;
    p.held.length = 0;
    for (const c of [p.client, p.server]) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const p of [...this.#pairs]) this.#close(p);
    await Promise.allSettled(this.#tasks);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** MQTT control packet types (MQTT 3.1.1 section 2.2.1, the same in MQTT 5). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  DISCONNECT: 14,
} as const;

/** A packet the tap saw a client send to the broker. */
export interface TappedPacket {
  readonly type: number;
  /** Whether the held SUBACKs had been released when the packet reached the proxy. */
  readonly afterRelease: boolean;
}

interface TapPair {
  client: Deno.Conn;
  server: Deno.Conn;
  /** Broker -> client bytes kept back, from a held SUBACK on (order is kept). */
  held: Uint8Array[];
  heldSubacks: number;
  /** Writes to the client, chained so that released packets keep their place. */
  down: Promise<void>;
}

/**
 * A TCP proxy that understands MQTT framing (plain MQTT, not TLS): it records the type of every
 * packet clients send to the broker, and can hold back the SUBACKs the broker sends, with
 * whatever the broker sends after them, until `release()`. That is what the subscription gate
 * is about: a client that publishes before its SUBACK arrived shows a PUBLISH before release.
 */
export class MqttTap {
  readonly #listener: Deno.Listener;
  readonly #pairs = new Set<TapPair>();
  #holdSubacks = false;
  #released = false;
  #tasks: Promise<void>[] = [];
  /** Every packet clients sent to the broker, in arrival order (all connections). */
  readonly toBroker: TappedPacket[] = [];

  private constructor(listener: Deno.Listener, readonly targetPort: number) {
    this.#listener = listener;
    this.#tasks.push(this.#accept());
  }

  /** A tap in front of `targetPort`; with `holdSubacks`, SUBACKs wait for `release()`. */
  static start(targetPort: number, { holdSubacks = false } = {}): MqttTap {
    const tap = new MqttTap(Deno.listen({ hostname: "127.0.0.1", port: 0 }), targetPort);
    tap.#holdSubacks = holdSubacks;
    return tap;
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** SUBACKs held back so far (not yet released). */
  get heldSubacks(): number {
    let n = 0;
    for (const p of this.#pairs) n += p.heldSubacks;
    return n;
  }

  /** How many packets of `type` clients sent, before or after the release. */
  count(type: number, afterRelease: boolean): number {
    return this.toBroker.filter((p) => p.type === type && p.afterRelease === afterRelease).length;
  }

  /** Forwards the held SUBACKs (and what followed them); holds nothing from now on. */
  async release(): Promise<void> {
    this.#holdSubacks = false;
    this.#released = true;
    const writes = [...this.#pairs].map((p) => {
      p.heldSubacks = 0;
      return this.#toClient(p, ...p.held.splice(0)).catch(() => {});
    });
    await Promise.all(writes);
  }

  #toClient(p: TapPair, ...packets: Uint8Array[]): Promise<void> {
    p.down = p.down.then(async () => {
      for (const packet of packets) await writeAll(p.client, packet);
    });
    return p.down;
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      } catch {
        client.close();
        continue;
      }
      const pair: TapPair = { client, server, held: [], heldSubacks: 0, down: Promise.resolve() };
      this.#pairs.add(pair);
      this.#tasks.push(this.#pipeUp(pair), this.#pipeDown(pair));
    }
  }

  /** Client -> broker: forwarded as it comes, each packet's type recorded. */
  async #pipeUp(p: TapPair): Promise<void> {
    const framer = new MqttFramer();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await p.client.read(buf);
        if (n === null) break;
        for (const packet of framer.push(buf.subarray(0, n))) {
          this.toBroker.push({ type: packet[0] >> 4, afterRelease: this.#released });
        }
        await writeAll(p.server, buf.subarray(0, n));
      }
    } catch { /* closed */ }
    this.#close(p);
  }

  /** Broker -> client: packet by packet, held from a SUBACK on while holding. */
  async #pipeDown(p: TapPair): Promise<void> {
    const framer = new MqttFramer();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await p.server.read(buf);
        if (n === null) break;
        for (const packet of framer.push(buf.subarray(0, n))) {
          const isSuback = packet[0] >> 4 === PacketType.SUBACK;
          if (this.#holdSubacks && (isSuback || p.held.length > 0)) {
            if (isSuback) p.heldSubacks++;
            p.held.push(packet);
          } else {
            await this.#toClient(p, packet);
          }
        }
      }
    } catch { /* closed */ }
    this.#close(p);
  }

  #close(p: TapPair): void {
    if (!this.#pairs.delete(p)) return;
    for (const c of [p.client, p.server]) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const p of [...this.#pairs]) this.#close(p);
    await Promise.allSettled(this.#tasks);
  }
}

/** Splits a byte stream into whole MQTT packets (fixed header, MQTT 3.1.1 section 2.2.3). */
class MqttFramer {
  #buffer = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const packets: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      const size = packetSize(joined, off);
      if (size === undefined || off + size > joined.length) break;
      packets.push(joined.slice(off, off + size));
      off += size;
    }
    this.#buffer = joined.slice(off);
    return packets;
  }
}

/** Size of the packet at `off` (header included), or undefined while its header is partial. */
function packetSize(bytes: Uint8Array, off: number): number | undefined {
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (off + i >= bytes.length) return undefined;
    const b = bytes[off + i];
    remaining += (b & 0x7f) * 128 ** (i - 1);
    if ((b & 0x80) === 0) return 1 + i + remaining;
  }
  throw new Error("Malformed MQTT remaining length");
}
