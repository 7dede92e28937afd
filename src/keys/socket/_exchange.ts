/**
 * One request over tedge-p11-server's Unix socket (the one place the client side touches it):
 *
 *   1. connect to the socket;
 *   2. write the request frame, then shut down our write side (the server reads to EOF);
 *   3. read the answer to EOF (the server shuts down its side after one frame);
 *   4. close.
 *
 * The whole exchange is bounded by a timeout. An empty answer is returned as such: the caller
 * knows whether that means "restarting" or "too old to parse the request".
 */
import { der } from "../../x509/mod.ts";
import { P11ConnectionError } from "./errors.ts";

export interface ExchangeOptions {
  timeoutMs: number;
  /** Larger answers are refused (default 1 MiB). */
  maxAnswerBytes?: number;
}

export const MAX_FRAME_BYTES = 1024 * 1024;

function why(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "there is no socket at that path";
  if (e instanceof Deno.errors.ConnectionRefused) return "nothing is listening on the socket";
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return "permission denied (the user needs read and write access to the socket)";
  }
  if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe) {
    return "the server dropped the connection";
  }
  return (e as Error)?.message ?? String(e);
}

/** Sends `request` and returns the raw answer (empty when the server closed without one). */
export async function exchange(
  socketPath: string,
  request: Uint8Array,
  opts: ExchangeOptions,
): Promise<Uint8Array> {
  const where = `tedge-p11-server at "${socketPath}"`;
  let conn: Deno.UnixConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }, opts.timeoutMs);
  let stage = "Cannot connect to tedge-p11-server at";
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
    if (timedOut) conn.close();
    stage = "Cannot send a request to tedge-p11-server at";
    for (let off = 0; off < request.length;) off += await conn.write(request.subarray(off));
    await conn.closeWrite();
    stage = "Cannot read the answer of tedge-p11-server at";
    return await readToEnd(conn, opts.maxAnswerBytes ?? MAX_FRAME_BYTES, where);
  } catch (e) {
    if (e instanceof P11ConnectionError) throw e;
    if (timedOut) {
      throw new P11ConnectionError(
        `${where} did not answer within ${opts.timeoutMs} ms (is it stuck on a slow token?)`,
        { cause: e },
      );
    }
    throw new P11ConnectionError(`${stage} "${socketPath}": ${why(e)}`, { cause: e });
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

async function readToEnd(conn: Deno.UnixConn, max: number, where: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    total += n;
    if (total > max) {
      throw new P11ConnectionError(`${where} sent an answer larger than ${max} bytes`);
    }
    chunks.push(buf.slice(0, n));
  }
  return der.concat(...chunks);
}
