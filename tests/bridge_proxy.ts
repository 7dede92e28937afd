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
