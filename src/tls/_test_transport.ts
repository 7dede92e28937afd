/**
 * Test-only transports: a scripted server (fixed bytes in, everything written kept) and an
 * in-memory pipe pair.
 */

import type { ByteTransport } from "./transport.ts";

/** Replays `incoming` (in the given pieces) to reads, then end of stream; keeps all writes. */
export class ScriptedTransport implements ByteTransport {
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
