/**
 * How the outbox reaches its file: requests to an OutboxStore, answered asynchronously.
 *
 * The store runs in a Worker (`_worker.ts`) so that SQLite's writes and fsyncs never block the
 * bridge's event loop: an fsync takes 0.2 ms on this machine's disk and 5-30 ms on a device's
 * flash, and a 4 KiB message costs about 20 us of writing. `InlineLink` runs the same handler on
 * the calling thread (tests that kill the process at a chosen SQLite call).
 */
import type { OutboxStore, StoredRow } from "./store.ts";

export type StoreRequest =
  | { op: "open"; path: string }
  /** One transaction; then the oldest row after `oldestAfter`. */
  | { op: "write"; rows: StoredRow[]; ackedThrough?: number; oldestAfter: number }
  | { op: "read"; after: number; limit: number }
  | { op: "expire"; before: number }
  | { op: "shrink" }
  | { op: "fileBytes" }
  | { op: "close" };

export interface StoreReplies {
  open: Record<never, never>;
  /** `buffers`: the rows' buffers, back for reuse. */
  write: { freed: number; oldestStoredAt?: number; buffers: ArrayBuffer[] };
  read: { rows: StoredRow[] };
  expire: { through?: number };
  shrink: Record<never, never>;
  fileBytes: { bytes: number };
  close: Record<never, never>;
}

export type Reply<R extends StoreRequest> = StoreReplies[R["op"]];

/** What went wrong in the store, with SQLite's result code when there is one. */
export interface StoreFailure {
  message: string;
  errcode?: number;
}

export interface StoreLink {
  request<R extends StoreRequest>(request: R): Promise<Reply<R>>;
  /** Ends the worker (after `close`). */
  terminate(): void;
}

/** Runs one request against `store` (the one handler of the worker and the inline link). */
export function handle(
  store: OutboxStore,
  request: StoreRequest,
): StoreReplies[keyof StoreReplies] {
  switch (request.op) {
    case "open":
      return {};
    case "write": {
      const freed = store.write(request.rows, request.ackedThrough);
      return {
        freed,
        oldestStoredAt: store.oldestStoredAt(request.oldestAfter),
        buffers: [...new Set(request.rows.map((r) => r.data.buffer as ArrayBuffer))],
      };
    }
    case "read":
      return { rows: store.rowsAfter(request.after, request.limit) };
    case "expire":
      return { through: store.lastSeqStoredBefore(request.before) };
    case "shrink":
      store.shrink();
      return {};
    case "fileBytes":
      return { bytes: store.fileBytes() };
    case "close":
      store.close();
      return {};
  }
}

/** An Error carrying `errcode`, as node:sqlite throws them. */
export function failureError(f: StoreFailure): Error {
  return Object.assign(new Error(f.message), f.errcode === undefined ? {} : { errcode: f.errcode });
}

export function failureOf(e: unknown): StoreFailure {
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  return {
    message: e instanceof Error ? e.message : String(e),
    ...(typeof errcode === "number" ? { errcode } : {}),
  };
}

/** The store in a Worker thread. */
export class WorkerLink implements StoreLink {
  readonly #worker: Worker;
  #next = 1;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #dead: Error | undefined;

  constructor(path: string) {
    this.#worker = new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent) => {
      const { id, reply, failure } = e.data as {
        id: number;
        reply?: unknown;
        failure?: StoreFailure;
      };
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (failure) p?.reject(failureError(failure));
      else p?.resolve(reply);
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#dead = new Error(`Outbox worker failed: ${e.message}`);
      for (const p of this.#pending.values()) p.reject(this.#dead);
      this.#pending.clear();
    };
    this.request({ op: "open", path }).catch(() => {}); // a failure shows on the next request
  }

  request<R extends StoreRequest>(request: R): Promise<Reply<R>> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    const transfer = request.op === "write"
      ? [...new Set(request.rows.map((r) => r.data.buffer))]
      : [];
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, request }, transfer as ArrayBuffer[]);
    });
  }

  terminate(): void {
    this.#worker.terminate();
    const gone = new Error("Outbox worker terminated");
    for (const p of this.#pending.values()) p.reject(gone);
    this.#pending.clear();
  }
}

/** The store on the calling thread; replies still arrive asynchronously. */
export class InlineLink implements StoreLink {
  constructor(private readonly store: OutboxStore) {}

  request<R extends StoreRequest>(request: R): Promise<Reply<R>> {
    try {
      return Promise.resolve(handle(this.store, request) as Reply<R>);
    } catch (e) {
      return Promise.reject(failureError(failureOf(e)));
    }
  }

  terminate(): void {}
}
