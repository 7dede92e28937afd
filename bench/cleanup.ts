/**
 * Everything the benchmark starts (brokers, bridges, temp dirs) is registered here, so that it
 * is stopped on a normal end, on an error and on Ctrl-C / SIGTERM alike (PID 1 here does not
 * reap orphans: each child is killed by handle and awaited).
 */

type Cleanup = () => Promise<unknown> | unknown;

const registered = new Set<{ what: string; fn: Cleanup }>();
let interrupted = false;

/** Registers `fn`; returns a function that runs it once and unregisters it. */
export function onCleanup(what: string, fn: Cleanup): () => Promise<void> {
  const entry = { what, fn };
  registered.add(entry);
  return async () => {
    if (!registered.delete(entry)) return;
    await fn();
  };
}

/** Runs every registered cleanup, newest first. */
export async function cleanupAll(): Promise<void> {
  const entries = [...registered].reverse();
  registered.clear();
  for (const { what, fn } of entries) {
    try {
      await fn();
    } catch (e) {
      console.error(`cleanup of ${what} failed: ${e}`);
    }
  }
}

/** Throws when Ctrl-C was pressed, so long loops stop starting new work. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error("Interrupted");
}

export function installSignalHandlers(): void {
  const handler = async () => {
    if (interrupted) return;
    interrupted = true;
    console.error("\nInterrupted: stopping brokers and bridges, removing temp dirs ...");
    await cleanupAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", handler);
  Deno.addSignalListener("SIGTERM", handler);
}
