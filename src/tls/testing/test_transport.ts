/**
 * Test-only transports: a scripted server (fixed bytes in, everything written kept) and an
 * in-memory pipe pair.
 */

import type { RawTransport } from "../transport.ts";

/** Replays `incoming` (in the given pieces) to reads, then end of stream; keeps all writes. */
export class ScriptedTransport implements RawTransport {
  readonly written: Uint8Array[] = [];
  #incoming: Uint8Array[];
  #closed = false;

  constructor(incoming: Uint8Array[]) {
    this.#incoming = incoming.map((b) => b.slice());
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    const next = this.#incoming[0];
    if (!next) return Promise.resolve(null);
    const n = Math.min(buffer.length, next.length);
    buffer.set(next.subarray(0, n));
    if (n === next.length) this.#incoming.shift();
    else this.#incoming[0] = next.subarray(n);
    return Promise.resolve(n);
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.written.push(data.slice());
    return Promise.resolve(data.length);
  }

  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Everything written so far, as one array. */
  get output(): Uint8Array {
    const n = this.written.reduce((a, b) => a + b.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const w of this.written) {
      out.set(w, at);
      at += w.length;
    }
    return out;
  }
}

/** One direction of an in-memory pipe. */
class Channel {
  chunks: Uint8Array[] = [];
  ended = false;
  waiter: (() => void) | undefined;
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

/** An in-memory byte stream end; `writes` and `reads` count calls for coalescing tests. */
export class PipeEnd implements RawTransport {
  writes = 0;
  reads = 0;
  bytesWritten = 0;
  #closed = false;
  constructor(private readonly inbound: Channel, private readonly outbound: Channel) {}

  async read(buffer: Uint8Array): Promise<number | null> {
    this.reads++;
    while (this.inbound.chunks.length === 0) {
      if (this.inbound.ended || this.#closed) {
        if (this.#closed) throw new Deno.errors.BadResource("closed");
        return null;
      }
      await new Promise<void>((r) => this.inbound.waiter = r);
    }
    const next = this.inbound.chunks[0];
    const n = Math.min(buffer.length, next.length);
    buffer.set(next.subarray(0, n));
    if (n === next.length) this.inbound.chunks.shift();
    else this.inbound.chunks[0] = next.subarray(n);
    return n;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed || this.outbound.ended) {
      return Promise.reject(new Deno.errors.BrokenPipe("closed"));
    }
    this.writes++;
    this.bytesWritten += data.length;
    this.outbound.chunks.push(data.slice());
    this.outbound.wake();
    return Promise.resolve(data.length);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.outbound.ended = true;
    this.outbound.wake();
    this.inbound.wake();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** Two connected ends: what one writes, the other reads. */
export function pipePair(): [PipeEnd, PipeEnd] {
  const a = new Channel(), b = new Channel();
  return [new PipeEnd(a, b), new PipeEnd(b, a)];
}
