/**
 * The outbox's Worker: opens the store (already checked by Outbox.open on the main thread) and
 * answers requests one at a time, in order (link.ts). Listed in the compile task's --include:
 * `deno compile` does not find worker modules by itself.
 */
import { failureOf, handle, type StoreRequest } from "./link.ts";
import { OutboxStore } from "./store.ts";

/** The worker's global scope (this file is type-checked with the main thread's lib). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(message: unknown, options?: { transfer: ArrayBuffer[] }): void;
};

let store: OutboxStore | undefined;
let openError: unknown;

scope.onmessage = (e: MessageEvent) => {
  const { id, request } = e.data as { id: number; request: StoreRequest };
  try {
    if (request.op === "open") {
      try {
        store = OutboxStore.open(request.path, { check: false });
      } catch (e) {
        openError = e;
      }
    }
    if (!store) throw openError;
    const reply = handle(store, request);
    const transfer = "rows" in reply
      ? [...new Set(reply.rows.map((r) => r.data.buffer as ArrayBuffer))]
      : "buffers" in reply
      ? reply.buffers
      : [];
    scope.postMessage({ id, reply }, { transfer });
  } catch (e) {
    scope.postMessage({ id, failure: failureOf(e) });
  }
};
