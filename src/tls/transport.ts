/**
 * The byte stream TLS runs over. `Deno.Conn` satisfies it; tests use in-memory pipes.
 */

export interface RawTransport {
  /** Reads into `buffer`; resolves to the byte count, or null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; resolves to the byte count written (may be less than all). */
  write(data: Uint8Array): Promise<number>;
  /** Closes both directions; pending reads end. May be called more than once. */
  close(): void;
}

/** Writes all of `data`, looping over partial writes. */
export async function writeAll(transport: RawTransport, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) {
    const n = await transport.write(at === 0 ? data : data.subarray(at));
    if (n <= 0) throw new Error("Transport accepted no bytes");
    at += n;
  }
}

/** Closes a transport, ignoring "already closed" errors. */
export function closeQuietly(transport: RawTransport): void {
  try {
    transport.close();
  } catch {
    // Already closed: nothing to do.
  }
}
