/**
 * Stand-ins for tedge-p11-server that misbehave on purpose (old releases, a server that never
 * answers, one that answers garbage), on a real Unix socket. Each connection is read to EOF,
 * then `answer` decides: bytes to send, `null` to close without a word, "hang" to keep the
 * connection open and say nothing.
 */
import { decodeFrame, encodeFrame, type Frame1, frameTag } from "../../src/keys/mod.ts";

export type FakeAnswer = Uint8Array | null | "hang";

export class FakeP11Server implements AsyncDisposable {
  readonly requests: Uint8Array[] = [];
  readonly #conns = new Set<Deno.UnixConn>();
  readonly #done: Promise<void>;

  private constructor(
    readonly path: string,
    readonly listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>,
    answer: (request: Uint8Array) => FakeAnswer,
  ) {
    this.#done = this.#serve(answer);
  }

  static start(path: string, answer: (request: Uint8Array) => FakeAnswer): FakeP11Server {
    return new FakeP11Server(path, Deno.listen({ transport: "unix", path }), answer);
  }

  async #serve(answer: (request: Uint8Array) => FakeAnswer): Promise<void> {
    for await (const conn of this.listener) {
      this.#conns.add(conn);
      this.#handle(conn, answer).catch(() => {}).finally(() => this.#conns.delete(conn));
    }
  }

  async #handle(conn: Deno.UnixConn, answer: (r: Uint8Array) => FakeAnswer): Promise<void> {
    const request = await readToEnd(conn);
    this.requests.push(request);
    const reply = answer(request);
    if (reply === "hang") return;
    try {
      if (reply) {
        for (let off = 0; off < reply.length;) off += await conn.write(reply.subarray(off));
      }
    } finally {
      conn.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await this.#done.catch(() => {});
    await Deno.remove(this.path).catch(() => {});
  }
}

/** Reads until the peer shuts down its write side (conn.readable would close the connection). */
async function readToEnd(conn: Deno.UnixConn): Promise<Uint8Array> {
  const parts: number[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return Uint8Array.from(parts);
    parts.push(...buf.subarray(0, n));
  }
}

/**
 * A socket file left by a server that died (SIGKILL: nobody removed it, nobody listens).
 */
export async function staleSocket(path: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); console.log("ready");` +
      `setTimeout(() => {}, 60000);`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read();
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
}

/**
 * How a released tedge-p11-server answers (thin-edge's proxy/server.rs and connection.rs per
 * release): a tag newer than its Frame1 cannot be parsed; 2.0 answers that with an Error frame,
 * earlier releases close the connection. Known requests get `known(frame)`.
 */
export function oldServer(
  version: "1.6.0" | "1.6.1" | "1.7.0" | "2.0.1",
  known: (f: Frame1) => Frame1,
): (request: Uint8Array) => FakeAnswer {
  const lastTag = { "1.6.0": 4, "1.6.1": 5, "1.7.0": 13, "2.0.1": 13 }[version];
  return (bytes) => {
    if (bytes.length < 2 || bytes[0] !== 0 || bytes[1] > lastTag) {
      if (version !== "2.0.1") return null;
      return encodeFrame({
        type: "Error",
        message: "read: Failed to parse the received frame: Serde Deserialization Error",
      });
    }
    const frame = decodeFrame(bytes);
    const isResponse = [0, 3, 4, 7, 9, 11, 13].includes(frameTag(frame.type));
    if (isResponse) return encodeFrame({ type: "Error", message: "invalid request" });
    return encodeFrame(known(frame));
  };
}
