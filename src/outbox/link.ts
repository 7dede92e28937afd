/**
 * How the outbox reaches its file: requests to an OutboxStore, answered asynchronously.
 *
 * `SyncedLink` (what `run` uses) keeps SQLite on the event loop but its fsyncs off it: an fsync
 * takes 0.2 ms on this machine's disk and 5-30 ms on a device's flash, and must not hold up the
 * bridge. (It replaced a Worker that ran the whole store on its own thread: the same throughput,
 * less CPU per message, and 10-12 MB less memory, the cost of a second isolate; bench/FINDINGS.md.)
 * `InlineLink` runs the store with synchronous = FULL, fsyncs included, on the calling thread
 * (tests that kill the process at a chosen SQLite call).
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
  /** Lets go of what the link holds (after `close`). */
  terminate(): void;
}

/** Runs one request against `store` (the one handler of both links). */
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

/**
 * The store on the calling thread, its fsyncs off it. SQLite commits with synchronous = NORMAL:
 * the WAL is written, not synced (microseconds; a SIGKILL loses nothing committed). Then the
 * WAL is fdatasync'ed by Deno's blocking-I/O threads (`FsFile.syncData()`, which does not hold
 * the event loop) before the write is answered, so what the outbox reports durable has reached
 * the disk, as with synchronous = FULL. The directory is fsynced once, after the first write, so
 * that the WAL's own name survives a power cut too. SQLite's checkpoints (about every 4 MB of
 * WAL) still sync on this thread.
 */
export class SyncedLink implements StoreLink {
  #wal: Deno.FsFile | undefined;

  constructor(private readonly store: OutboxStore) {}

  async request<R extends StoreRequest>(request: R): Promise<Reply<R>> {
    let reply: Reply<R>;
    try {
      reply = handle(this.store, request) as Reply<R>;
    } catch (e) {
      throw failureError(failureOf(e));
    }
    if (request.op === "write") await this.#syncWal();
    if (request.op === "close") this.#wal?.close();
    return reply;
  }

  async #syncWal(): Promise<void> {
    if (!this.#wal) {
      const path = `${this.store.path}-wal`;
      this.#wal = await Deno.open(path, { read: true });
      await syncDirectory(path.slice(0, path.lastIndexOf("/")) || ".");
    }
    await this.#wal.syncData();
  }

  terminate(): void {}
}

async function syncDirectory(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}
