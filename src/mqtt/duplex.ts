/**
 * A Node Duplex over a `ByteTransport`, for mqtt.js. Three details matter:
 *
 * - `allowHalfOpen: false`: when the peer closes, the Duplex ends its writable side too and
 *   emits `close`, which is how mqtt.js learns the connection is gone.
 * - Errors carry a `.code` (mqtt.js drops stream errors without one, and would then wait for a
 *   keepalive timeout to notice).
 * - `writev`: mqtt-packet writes each packet in several small pieces inside cork/uncork; the
 *   pieces written while a previous write is in flight arrive here together and go out as one
 *   transport write (one TLS record instead of five). They are copied into a 64 KiB buffer
 *   that every write reuses (the Writable starts no write before the previous one completed,
 *   and a completed transport write has consumed its bytes); more than that goes out as
 *   several writes. A new buffer per write was a malloc'd ArrayBuffer per message at 4 KiB
 *   (and a 64+ KiB one per burst), which V8 frees only when it collects its owner.
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { type ByteTransport, TransportError } from "./transport.ts";

/** Size of the reused buffer for gathered writes (at most this much per transport write). */
const GATHER_BUFFER_BYTES = 64 * 1024;

/** A Duplex whose input can be held back (TCP backpressure to the peer). */
export interface TransportDuplex extends Duplex {
  /** Stops reading from the transport until `resumeInput()`; the peer's sends then block. */
  pauseInput(): void;
  resumeInput(): void;
}

/**
 * Wraps a connected transport; destroying the Duplex closes the transport. `inbound`, when
 * given, sees every chunk read first and returns what the Duplex passes on (connection.ts takes
 * the bridged PUBLISH packets out there: inbound.ts).
 */
export function transportDuplex(
  transport: ByteTransport,
  inbound?: (chunk: Uint8Array) => Uint8Array,
): TransportDuplex {
  let reading = false;
  let finished = false;
  let held = false;
  let gather: Buffer | undefined;

  const duplex = new Duplex({
    allowHalfOpen: false,

    read() {
      if (reading || finished || held) return;
      reading = true;
      pump();
    },

    write(chunk: Buffer, _encoding, callback) {
      transport.write(chunk).then(() => callback(), (e) => callback(TransportError.from(e)));
    },

    writev(chunks: { chunk: Buffer }[], callback) {
      writeGathered(chunks).then(() => callback(), (e) => callback(TransportError.from(e)));
    },

    final(callback) {
      // Our side is done writing (after DISCONNECT): close the transport, which also ends the
      // readable side once the peer sees the close.
      transport.close().then(() => callback(), (e) => callback(TransportError.from(e)));
    },

    destroy(error, callback) {
      finished = true;
      transport.close().catch(() => {}).finally(() => callback(error));
    },
  });

  /** Writes the chunks in order, copied into `gather` up to 64 KiB at a time. */
  async function writeGathered(chunks: { chunk: Buffer }[]): Promise<void> {
    if (chunks.length === 1) return await transport.write(chunks[0].chunk);
    const buffer = gather ??= Buffer.allocUnsafeSlow(GATHER_BUFFER_BYTES);
    let at = 0;
    for (const { chunk } of chunks) {
      if (at > 0 && at + chunk.length > buffer.length) {
        await transport.write(buffer.subarray(0, at));
        at = 0;
      }
      if (chunk.length > buffer.length) {
        await transport.write(chunk); // a large payload as it is: no copy
        continue;
      }
      buffer.set(chunk, at);
      at += chunk.length;
    }
    if (at > 0) await transport.write(buffer.subarray(0, at));
  }

  async function pump(): Promise<void> {
    try {
      while (!finished && !held) {
        const chunk = await transport.read();
        if (chunk === null) {
          finished = true;
          duplex.push(null);
          return;
        }
        const rest = inbound && chunk.length > 0 ? inbound(chunk) : chunk;
        if (rest.length === 0) continue;
        const buf = Buffer.isBuffer(rest)
          ? rest
          : Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength);
        if (!duplex.push(buf)) break;
      }
    } catch (e) {
      finished = true;
      duplex.destroy(TransportError.from(e, "ECONNRESET"));
      return;
    } finally {
      reading = false;
    }
  }

  // A transport that closes under us (peer reset seen by the TLS layer, say) ends the stream.
  transport.closed?.then(() => {
    if (!finished && !duplex.destroyed) {
      // Let pending reads drain first; read() returns null after close.
      duplex.read(0);
    }
  }, () => {});

  const controlled = duplex as TransportDuplex;
  controlled.pauseInput = () => {
    held = true;
  };
  controlled.resumeInput = () => {
    if (!held) return;
    held = false;
    if (!reading && !finished && !duplex.destroyed) {
      reading = true;
      pump();
    }
  };
  return controlled;
}
