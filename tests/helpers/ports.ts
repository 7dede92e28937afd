/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Resolves once something accepts TCP connections on the port; throws after `timeoutMs`. */
export async function waitForPort(
  port: number,
  { hostname = "127.0.0.1", timeoutMs = 10_000 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname, port });
      conn.close();
      return;
    } catch (e) {
      lastError = e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`Nothing listens on ${hostname}:${port} after ${timeoutMs} ms`, {
    cause: lastError,
  });
}
