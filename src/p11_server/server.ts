/**
 * `hsm-bridge p11-server`: tedge-p11-server's side of the protocol (one request per
 * connection):
 *
 *   client: connect ── frame ── shutdown(WR) ─────────────────── read to EOF
 *   server:  accept ── read to EOF ── [queue] ── answer ── frame ── shutdown(WR)
 *
 * Connections are read side by side, so a client that never shuts down its write side holds
 * only itself up: after `readTimeoutMs` it is answered with an Error frame and dropped. The
 * requests themselves are carried out one at a time, in arrival order, as tedge-p11-server
 * does (a token does one thing at a time). A frame that cannot be parsed is answered
 * `Error("read: Failed to parse the received frame: ...")`, the text tedge's clients look
 * for; one larger than `maxFrameBytes` is answered with an Error and dropped.
 */
import type net from "node:net";
import { Buffer } from "node:buffer";
import { getLogger } from "../log.ts";
import { decodeFrame, encodeFrame, type Frame1, FrameError, MAX_FRAME_BYTES } from "../keys/mod.ts";
import { answer, type P11Service } from "./service.ts";

const log = getLogger("p11-server");

export interface P11ServerOptions {
  /** Longest a client may take to send its request and shut down its write side. */
  readTimeoutMs?: number;
  maxFrameBytes?: number;
}

/** After an early answer (too large, too slow), how long the client gets to read it. */
const LINGER_MS = 1_000;

export class P11Server {
  #queue: Promise<unknown> = Promise.resolve();
  #closing = false;
  readonly #sockets = new Set<net.Socket>();
  readonly #readTimeoutMs: number;
  readonly #maxFrameBytes: number;
  /** Requests answered, for tests and logs. */
  served = 0;

  constructor(readonly service: P11Service, opts: P11ServerOptions = {}) {
    this.#readTimeoutMs = opts.readTimeoutMs ?? 10_000;
    this.#maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** The connection handler to give the listener. */
  readonly accept = (socket: net.Socket): void => {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const early = (message: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      log.warn("Request refused", { reason: message });
      socket.pause();
      socket.end(encodeFrame({ type: "Error", message }));
      setTimeout(() => socket.destroy(), LINGER_MS).unref?.();
    };
    const timer = setTimeout(
      () =>
        early(
          `read: no complete request within ${this.#readTimeoutMs} ms (a client must shut ` +
            `down its write side after the frame)`,
        ),
      this.#readTimeoutMs,
    );
    socket.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > this.#maxFrameBytes) {
        return early(`read: the request is larger than ${this.#maxFrameBytes} bytes`);
      }
      chunks.push(chunk);
    });
    socket.on("end", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const bytes = new Uint8Array(Buffer.concat(chunks));
      this.#enqueue(() => this.#serve(socket, bytes));
    });
    socket.on("error", (e: Error) => {
      clearTimeout(timer);
      done = true;
      log.debug("Connection error", { reason: e.message });
    });
    socket.on("close", () => {
      clearTimeout(timer);
      this.#sockets.delete(socket);
    });
  };

  #enqueue(task: () => Promise<void>): void {
    const run = this.#queue.then(task);
    this.#queue = run.catch((e) => log.error("Request handling failed", { reason: String(e) }));
  }

  async #serve(socket: net.Socket, bytes: Uint8Array): Promise<void> {
    let request: Frame1;
    try {
      request = decodeFrame(bytes);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      const message = `read: Failed to parse the received frame: ${e.message}`;
      log.warn("Incoming request failed", { reason: message });
      return this.#reply(socket, { type: "Error", message });
    }
    const started = performance.now();
    const response = await answer(this.service, request);
    const ms = Math.round(performance.now() - started);
    if (response.type === "Error") {
      log.warn("Incoming request failed", { request: request.type, ms, reason: response.message });
    } else {
      log.info("Incoming request successful", { request: request.type, ms });
    }
    this.#reply(socket, response);
  }

  #reply(socket: net.Socket, frame: Frame1): void {
    this.served++;
    if (socket.destroyed || !socket.writable) return;
    socket.end(encodeFrame(frame));
  }

  /** Waits for the requests already queued, then drops any connection still open. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#queue;
    for (const s of this.#sockets) s.destroy();
  }
}
