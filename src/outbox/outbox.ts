/**
 * The durable outbox of the local -> cloud direction: a FIFO of messages on disk, numbered in
 * the order they arrived (seq), written by group commit.
 *
 *   append(m, safe) ──> batch (memory) ──commit──> file ──> safe(): the caller acks m
 *          └──────────────> next(): m, in seq order (before or after its commit)
 *   remove(seq) (the cloud's PUBACK) ──> acked_through moves ──> safe() if not yet
 *                                                          └──> rows deleted at a commit
 *
 * 1. Group commit: the file is written one transaction and one fsync at a time, the fsync off
 *    the event loop (link.ts). A batch is what arrived while the previous commit ran; while more than BUSY_RATE
 *    messages a second arrive, commits are also paced to one every COMMIT_INTERVAL_MS (unless a
 *    batch is large). So batches grow with the rate and the disk's latency, flash sees few
 *    writes, and the event loop never waits for the disk.
 *    A message is reported safe (the caller acks it to the local broker) once it is in the
 *    file or in the cloud: when its commit returned, or, if sooner, when the cloud acked it
 *    and every message before it (acked_through passed it). Safe reports go in seq order.
 *    Messages the cloud acked before their commit started are not written at all: with the
 *    cloud reachable, flash sees only what the cloud did not take within a commit's wait.
 * 2. Appended messages are handed out by `next()` at once, in order, without waiting for
 *    their commit: only the local ack waits for the disk, not the cloud. (A crash between the
 *    cloud's PUBACK and the commit means a duplicate when the local broker sends the message
 *    again: never a loss.) They stay in memory while they fit (`cacheMessages`,
 *    `cacheBytes`); beyond that they are only on disk ("spilled") and are read back in order
 *    once committed, so a long outage costs disk, not memory.
 * 3. `remove(seq)` marks a message gone. `acked_through` is the highest seq below which all
 *    are gone; it is written, and the rows it covers deleted, with a coming commit (a delete
 *    lost in a crash means a duplicate, never a loss). After a restart, sending resumes after
 *    `acked_through`.
 * 4. Bounds: `append()` answers "full" when the record bytes would pass `maxBytes` (the
 *    caller holds the message and tries again after `onRoom`); with `maxAgeMs`, rows older
 *    than that are dropped, with a warning.
 * 5. A file that is damaged or not an outbox is moved aside at open, with an error naming both
 *    paths, and a new one is started. Damage found later is fatal (`onFatal`): the next start
 *    moves the file aside.
 */
import { clearImmediate, setImmediate } from "node:timers";
import { getLogger, type Logger } from "../log.ts";
import { decodeRecords, encodeRecords, encodeTopic, RecordError, recordSize } from "./codec.ts";
import { InlineLink, type StoreLink, SyncedLink } from "./link.ts";
import {
  isCorruption,
  moveAside,
  OutboxStore,
  OutboxUnreadableError,
  type StoredRow,
} from "./store.ts";

export interface OutboxOptions {
  /** The outbox file; created when absent, moved aside when unreadable. */
  readonly path: string;
  /** Record bytes the outbox may hold: topics and payloads plus 7 bytes a message. */
  readonly maxBytes: number;
  /** Messages stored longer than this (ms) are dropped with a warning. Default: kept. */
  readonly maxAgeMs?: number;
  readonly log?: Logger;
  /** Committed messages kept in memory for sending. Default 4,000. */
  readonly cacheMessages?: number;
  /** Bytes of committed messages kept in memory for sending. Default 4 MiB. */
  readonly cacheBytes?: number;
  /** Wall clock in ms (tests). */
  readonly now?: () => number;
  /** synchronous = FULL, fsyncs on this thread (tests that kill the process mid-commit). */
  readonly inline?: boolean;
}

/** A stored message, as `next()` hands it out (stored messages are QoS 1). */
export interface OutboxMessage {
  readonly seq: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 1;
  readonly retain: boolean;
}

export type AppendResult = "queued" | "full" | "too_large";

export interface OutboxStats {
  /** Messages stored and not yet gone (committed; acked by the cloud ones excluded). */
  readonly depth: number;
  /** Record bytes in the file (rows not yet deleted included). */
  readonly bytes: number;
  readonly maxBytes: number;
  /** Age of the oldest message stored, ms (as of the last commit); undefined when empty. */
  readonly oldestAgeMs?: number;
  /** Messages dropped by the age cap since start. */
  readonly expired: number;
  /** Transactions committed since start. */
  readonly commits: number;
  /** Messages waiting for a commit (or in one). */
  readonly uncommitted: number;
}

interface Uncommitted {
  readonly seq: number;
  readonly topic: string;
  readonly topicBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly retain: boolean;
  /** Step 1: runs once the message is safe. */
  readonly safe: () => void;
}

/** A commit sent to the store (its messages' seqs are contiguous). */
interface Commit {
  readonly batch: Uncommitted[];
  readonly bytes: number;
}

/**
 * While busy (BUSY_RATE), time between the starts of two commits unless a batch is large (see
 * LARGE_BATCH_BYTES). Measured with 100 B messages at 7-9k msg/s: 20 ms instead of 5 ms halved
 * the store's CPU per message (4 against 8 us) and the bytes written (270 against 430). The
 * local broker's window (Receive Maximum 1000) covers the wait up to 50,000 msg/s.
 */
const COMMIT_INTERVAL_MS = 20;
/**
 * Arrival rate (messages a second) above which commits are paced. Below it a commit starts at
 * once: mosquitto does not set TCP_NODELAY, so Nagle holds its next PUBLISH until our side
 * acknowledges the last one, which our PUBACK does; pacing at 200 msg/s put 12 ms (p99 22 ms)
 * on every message's way to the cloud. At the rates of most devices each message is alone in
 * its commit either way.
 */
const BUSY_RATE = 1_000;
/** The arrival rate is counted over windows of at least this long. */
const RATE_WINDOW_MS = 50;
/** A batch this large is committed without waiting for COMMIT_INTERVAL_MS. */
const LARGE_BATCH_BYTES = 512 * 1024;
/**
 * A commit's messages go in rows of at most this size (a larger message gets a row of its
 * own), encoded into buffers that go to the store with the write and come back with its reply,
 * to be used again. Fresh buffers cost more than everything else the outbox does on
 * the event loop: 10-15 us per 4 KiB message to allocate and 6-9 us to fill under load here
 * (page faults, and V8's garbage collection paced by external memory), against 2 us in warm
 * memory.
 */
const ROW_BYTES = 64 * 1024;
/** Row buffers kept for reuse (4 MiB). */
const POOL_BUFFERS = 64;
/** Rows read per request when sending from disk. */
const ROWS_PER_READ = 64;
/** Delay of a commit that only deletes (nothing appended): acks need not be durable soon. */
const DELETE_COMMIT_MS = 100;
/** Wait before retrying a commit that failed (disk full, I/O error). */
const RETRY_MS = 1_000;
/** Shrink the file once a backlog of this many bytes drained. */
const SHRINK_AFTER_BYTES = 1024 * 1024;

export class Outbox {
  readonly #link: StoreLink;
  readonly #path: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly maxBytes: number;
  readonly #maxAgeMs: number | undefined;
  readonly #cacheMessages: number;
  readonly #cacheBytes: number;

  #batch: Uncommitted[] = [];
  #batchBytes = 0;
  /** The commit the store is working on, or one to retry. */
  #commit: Commit | undefined;
  /** A write request is out. */
  #writing = false;
  #lastCommitAt = 0;
  /** Messages appended since `#rateSince`; `#busy`: the last window's rate passed BUSY_RATE. */
  #arrivals = 0;
  #rateSince = 0;
  #busy = false;
  /** seq of the next message appended. */
  #nextSeq: number;
  /** The last seq committed. */
  #committedThrough: number;
  /** Step 1: every message with seq <= this was reported safe (reports go in seq order). */
  #reportedThrough: number;
  /** Every message with seq <= this is gone. */
  #ackedThrough: number;
  /** Gone messages above `#ackedThrough` (acks out of order: a refused message, say). */
  readonly #ackedAbove = new Set<number>();
  #ackedDirty = false;
  /** Record bytes in the file. */
  #bytes: number;
  #freedSinceShrink = 0;
  #oldestStoredAt: number | undefined;

  /** Committed, not yet handed out by next(): seq > #takenThrough, contiguous. */
  /** Row buffers back from the store (step 1). */
  readonly #pool: ArrayBuffer[] = [];
  #cache: OutboxMessage[] = [];
  #cacheHead = 0;
  #cachedBytes = 0;
  #takenThrough: number;
  /** Committed messages after the cache exist on disk only. */
  #spilled: boolean;
  #reading = false;

  #immediate: ReturnType<typeof setImmediate> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** `#timer` is the lazy one of a delete-only commit (an append may bring it forward). */
  #timerForDeletes = false;
  /** An append was refused for room: commit deletes at once, they make room. */
  #wantsRoom = false;
  /** A commit failed; the next one waits for its retry. */
  #retrying = false;
  #writeError: string | undefined;
  #flushWaiters: (() => void)[] = [];
  #expiryTimer: ReturnType<typeof setInterval> | undefined;
  #failed: Error | undefined;
  #closing = false;
  #expired = 0;
  #commits = 0;

  /** After a commit (or a read from disk) that made messages available to `next()`. */
  onCommit: () => void = () => {};
  /** After a commit that freed room (an `append()` answered "full" may succeed now). */
  onRoom: () => void = () => {};
  /** The file turned out damaged while running: the outbox stopped. */
  onFatal: (error: Error) => void = () => {};

  private constructor(
    link: StoreLink,
    options: OutboxOptions,
    log: Logger,
    start: {
      ackedThrough: number;
      lastSeq: number;
      bytes: number;
      oldestStoredAt?: number;
      expireThrough?: number;
    },
  ) {
    this.#link = link;
    this.#path = options.path;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.maxBytes = options.maxBytes;
    this.#maxAgeMs = options.maxAgeMs;
    this.#cacheMessages = options.cacheMessages ?? 4_000;
    this.#cacheBytes = options.cacheBytes ?? 4 * 1024 * 1024;
    this.#ackedThrough = this.#takenThrough = start.ackedThrough;
    this.#committedThrough = this.#reportedThrough = start.lastSeq;
    this.#nextSeq = start.lastSeq + 1;
    this.#bytes = start.bytes;
    this.#oldestStoredAt = start.oldestStoredAt;
    this.#spilled = start.lastSeq > start.ackedThrough;
  }

  /**
   * Opens the outbox at `options.path` (creating it) and checks it here, on the calling
   * thread. A file that is damaged or not an outbox is moved aside with an error naming it,
   * and a new one is started. Other errors (the directory is not writable, say) are thrown.
   */
  static open(options: OutboxOptions): Outbox {
    const log = options.log ?? getLogger("outbox");
    let store: OutboxStore;
    try {
      store = OutboxStore.open(options.path, { synchronous: options.inline ? "FULL" : "NORMAL" });
    } catch (e) {
      if (!(e instanceof OutboxUnreadableError)) throw e;
      const aside = moveAside(options.path);
      log.error(
        `${e.message}: moved aside to "${aside}"; starting with an empty outbox ` +
          `(messages in the old file are not sent)`,
      );
      store = OutboxStore.open(options.path, { synchronous: options.inline ? "FULL" : "NORMAL" });
    }
    let start;
    try {
      const s = store.summary();
      const expireThrough = options.maxAgeMs === undefined
        ? undefined
        : store.lastSeqStoredBefore((options.now ?? Date.now)() - options.maxAgeMs);
      const gone = Math.max(s.ackedThrough, expireThrough ?? 0);
      start = { ...s, oldestStoredAt: store.oldestStoredAt(gone), expireThrough };
    } catch (e) {
      store.close();
      throw e;
    }
    const link: StoreLink = options.inline ? new InlineLink(store) : new SyncedLink(store);
    const outbox = new Outbox(link, options, log, start);
    if (start.expireThrough !== undefined) outbox.#expireThrough(start.expireThrough);
    log.info("Outbox opened", {
      path: options.path,
      messages: outbox.depth,
      bytes: start.bytes,
      max_mb: Math.round(outbox.maxBytes / 1e5) / 10,
    });
    outbox.#startExpiry();
    return outbox;
  }

  /** Whether a message could ever fit (its record is not larger than the whole outbox). */
  fits(topic: string, payload: Uint8Array): boolean {
    return recordSize(encodeTopic(topic), payload) <= this.maxBytes;
  }

  /** Messages stored (committed) and not yet gone (see stats()). */
  get depth(): number {
    let gone = 0;
    for (const seq of this.#ackedAbove) if (seq <= this.#committedThrough) gone++;
    return Math.max(0, this.#committedThrough - this.#ackedThrough - gone);
  }

  /** Messages waiting for a commit, or in one. */
  get uncommitted(): number {
    return this.#batch.length + (this.#commit?.batch.length ?? 0);
  }

  /** Messages in the outbox and not gone: committed or not (those the cloud acked excluded). */
  get pending(): number {
    return this.#nextSeq - 1 - this.#ackedThrough - this.#ackedAbove.size;
  }

  /** Messages appended and not reported safe yet (their source still holds them unacked). */
  get unsafe(): number {
    return this.#nextSeq - 1 - this.#reportedThrough;
  }

  /**
   * Queues a message for the next commit (and for `next()` at once); `safe` runs once it is
   * on disk or acked by the cloud (step 1). "full": it would pass the size cap (hold it, try
   * again after `onRoom`); "too_large": it never fits.
   */
  append(
    topic: string,
    payload: Uint8Array,
    retain: boolean,
    safe: () => void,
  ): AppendResult {
    const topicBytes = encodeTopic(topic);
    const size = recordSize(topicBytes, payload);
    if (size > this.maxBytes) return "too_large";
    const used = this.#bytes + (this.#commit?.bytes ?? 0) + this.#batchBytes;
    if (this.#failed || this.#closing || used + size > this.maxBytes) {
      this.#wantsRoom = true;
      return "full";
    }
    const seq = this.#nextSeq++;
    this.#arrivals++;
    this.#batch.push({ seq, topic, topicBytes, payload, retain, safe });
    this.#batchBytes += size;
    this.#cached({ seq, topic, payload, qos: 1, retain });
    this.#schedule(true);
    return "queued";
  }

  /**
   * The next message not handed out yet, in seq order; undefined when there is none in memory
   * (when some are on disk, they are read and `onCommit` follows).
   */
  next(): OutboxMessage | undefined {
    if (this.#failed) return undefined;
    if (this.#cacheHead === this.#cache.length) {
      this.#cache = [];
      this.#cacheHead = 0;
      this.#cachedBytes = 0;
      if (this.#spilled) this.#readBack();
      return undefined;
    }
    const m = this.#cache[this.#cacheHead];
    this.#cache[this.#cacheHead++] = undefined as unknown as OutboxMessage; // let it go
    this.#cachedBytes -= m.payload.length;
    this.#takenThrough = m.seq;
    return m;
  }

  /** The message left (the cloud's PUBACK, or refused): deleted at a coming commit. */
  remove(seq: number): void {
    if (seq <= this.#ackedThrough || seq >= this.#nextSeq) return;
    if (seq === this.#ackedThrough + 1) {
      this.#ackedThrough = seq;
      while (this.#ackedAbove.delete(this.#ackedThrough + 1)) this.#ackedThrough++;
      // Step 1: safe in the cloud; the commit's messages come before the batch's.
      this.#reportSafe(this.#commit?.batch, this.#ackedThrough);
      this.#reportSafe(this.#batch, this.#ackedThrough);
    } else {
      this.#ackedAbove.add(seq);
    }
    this.#ackedDirty = true;
    this.#schedule(false);
  }

  /** Resolves once everything appended and removed so far is committed (or cannot be). */
  flush(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    if (!this.#writing && !this.#retrying) this.#send();
    return done;
  }

  stats(): OutboxStats {
    const at = this.#oldestStoredAt;
    return {
      depth: this.depth,
      bytes: this.#bytes,
      maxBytes: this.maxBytes,
      oldestAgeMs: at === undefined || this.depth === 0 ? undefined : Math.max(0, this.#now() - at),
      expired: this.#expired,
      commits: this.#commits,
      uncommitted: this.uncommitted,
    };
  }

  /** Commits what waits (for up to `graceMs`, unless commits are failing) and closes the file. */
  async close(graceMs = 5_000): Promise<void> {
    if (this.#closing) return;
    clearInterval(this.#expiryTimer);
    if (!this.#failed && !this.#retrying) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.flush(), new Promise((r) => timer = setTimeout(r, graceMs))]);
      clearTimeout(timer);
    }
    this.#closing = true;
    this.#cancel();
    try {
      if (!this.#failed) await this.#link.request({ op: "close" });
    } catch (e) {
      this.#log.warn("Outbox close failed", { reason: (e as Error).message });
    } finally {
      this.#link.terminate();
      this.#wakeFlushWaiters();
    }
  }

  #idle(): boolean {
    return !this.#writing && !this.#commit && !this.#batch.length && !this.#ackedDirty;
  }

  /**
   * Plans a commit: for appends, right after this turn but not sooner than COMMIT_INTERVAL_MS
   * after the last one started (unless the batch is large, or someone waits for room or a
   * flush); for deletes alone, a little later.
   */
  #schedule(appended: boolean): void {
    if (this.#closing || this.#failed || this.#retrying || this.#writing) return;
    if (appended || this.#wantsRoom || this.#flushWaiters.length) {
      if (this.#immediate) return;
      const urgent = !this.#isBusy() || this.#wantsRoom ||
        this.#flushWaiters.length > 0 || this.#batchBytes >= LARGE_BATCH_BYTES;
      const wait = urgent ? 0 : this.#lastCommitAt + COMMIT_INTERVAL_MS - performance.now();
      if (wait <= 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        // After this turn's I/O callbacks and ticks, which carry more of the same burst.
        this.#immediate = setImmediate(() => this.#send());
        return;
      }
      if (this.#timer !== undefined && !this.#timerForDeletes) return;
      clearTimeout(this.#timer);
      this.#timerForDeletes = false;
      this.#timer = setTimeout(() => this.#send(), wait);
    } else if (this.#timer === undefined && !this.#immediate) {
      this.#timerForDeletes = true;
      this.#timer = setTimeout(() => this.#send(), DELETE_COMMIT_MS);
    }
  }

  /** Whether messages arrive faster than BUSY_RATE (over the last window of RATE_WINDOW_MS). */
  #isBusy(): boolean {
    const now = performance.now();
    const elapsed = now - this.#rateSince;
    if (elapsed >= RATE_WINDOW_MS) {
      this.#busy = this.#arrivals * 1000 / elapsed > BUSY_RATE;
      this.#arrivals = 0;
      this.#rateSince = now;
    }
    return this.#busy;
  }

  #cancel(): void {
    if (this.#immediate) clearImmediate(this.#immediate);
    clearTimeout(this.#timer);
    this.#immediate = undefined;
    this.#timer = undefined;
    this.#timerForDeletes = false;
  }

  /**
   * Step 1/3: sends the batch (or the commit to retry) and the deletes to the store as one
   * transaction.
   */
  #send(): void {
    this.#cancel();
    this.#retrying = false;
    if (this.#failed || this.#writing) return;
    let commit = this.#commit && this.#unwritten(this.#commit);
    if (!commit && this.#batch.length) {
      commit = this.#unwritten({ batch: this.#batch, bytes: this.#batchBytes });
      this.#batch = [];
      this.#batchBytes = 0;
    }
    this.#commit = commit;
    if (!commit && !this.#ackedDirty) return this.#wakeFlushWaiters();
    // Encoded anew for a retry: the first request took the bytes with it.
    const rows = commit ? this.#toRows(commit.batch) : [];
    let rowBytes = 0;
    for (const r of rows) rowBytes += r.data.length;
    const ackedThrough = this.#ackedDirty ? this.#ackedThrough : undefined;
    this.#ackedDirty = false;
    this.#writing = true;
    this.#lastCommitAt = performance.now();
    this.#link.request({ op: "write", rows, ackedThrough, oldestAfter: this.#ackedThrough })
      .then(
        (reply) => {
          for (const b of reply.buffers) {
            if (b.byteLength === ROW_BYTES && this.#pool.length < POOL_BUFFERS) this.#pool.push(b);
          }
          this.#committed(commit, rowBytes, reply.freed, reply.oldestStoredAt);
        },
        (e) => this.#writeFailed(ackedThrough, e),
      );
  }

  #committed(
    commit: Commit | undefined,
    rowBytes: number,
    freed: number,
    oldestStoredAt: number | undefined,
  ): void {
    this.#writing = false;
    this.#commit = undefined;
    if (this.#failed) return;
    if (this.#writeError) {
      this.#log.info("Outbox writes work again", { path: this.#path });
      this.#writeError = undefined;
    }
    this.#commits++;
    this.#bytes += rowBytes - freed;
    this.#freedSinceShrink += freed;
    this.#oldestStoredAt = oldestStoredAt;
    if (commit) {
      this.#committedThrough = commit.batch[commit.batch.length - 1].seq;
      this.#reportSafe(commit.batch, this.#committedThrough);
    }
    if (freed) {
      this.#wantsRoom = false;
      if (this.#bytes === 0 && this.#freedSinceShrink >= SHRINK_AFTER_BYTES) this.#shrink();
      this.onRoom();
    }
    // Fewer held unacked; spilled messages may be on disk now.
    if (commit) this.onCommit();
    // What arrived meanwhile goes next.
    if (this.#batch.length) this.#schedule(true);
    else if (this.#ackedDirty) this.#schedule(false);
    if (this.#idle()) this.#wakeFlushWaiters();
  }

  /** The commit stays in `#commit` and is sent again after RETRY_MS. */
  #writeFailed(ackedThrough: number | undefined, e: Error): void {
    this.#writing = false;
    if (ackedThrough !== undefined) this.#ackedDirty = true;
    if (isCorruption(e)) {
      return this.#fail(new OutboxUnreadableError(this.#path, e.message, { cause: e }));
    }
    if (this.#closing) return this.#wakeFlushWaiters();
    if (this.#writeError !== e.message) {
      this.#log.error("Cannot write to the outbox, retrying (messages stay unacknowledged)", {
        path: this.#path,
        reason: e.message,
      });
      this.#writeError = e.message;
    }
    this.#retrying = true;
    this.#timer = setTimeout(() => this.#send(), RETRY_MS);
  }

  #wakeFlushWaiters(): void {
    for (const w of this.#flushWaiters.splice(0)) w();
  }

  /**
   * Step 1: `commit` without the messages the cloud acked already (a prefix of its batch,
   * acked_through being contiguous); undefined when that leaves none.
   */
  #unwritten(commit: Commit): Commit | undefined {
    const { batch } = commit;
    let { bytes } = commit;
    let skip = 0;
    for (; skip < batch.length && batch[skip].seq <= this.#ackedThrough; skip++) {
      bytes -= recordSize(batch[skip].topicBytes, batch[skip].payload);
    }
    if (skip === batch.length) return undefined;
    return skip ? { batch: batch.slice(skip), bytes } : commit;
  }

  /**
   * Step 1: reports safe, in seq order, the messages of `batch` (contiguous seqs) up to
   * `through` that were not reported yet. Callers go from the oldest batch to the newest.
   */
  #reportSafe(batch: readonly Uncommitted[] | undefined, through: number): void {
    if (!batch?.length) return;
    const first = batch[0].seq;
    const last = Math.min(through, first + batch.length - 1);
    while (this.#reportedThrough < last) {
      const seq = ++this.#reportedThrough;
      if (seq >= first) batch[seq - first].safe();
    }
  }

  /** Step 1: a commit's messages as rows of at most ROW_BYTES, in pooled buffers. */
  #toRows(batch: readonly Uncommitted[]): StoredRow[] {
    const storedAt = this.#now();
    const rows: StoredRow[] = [];
    const row = (start: number, end: number, bytes: number) => {
      const part = batch.slice(start, end);
      const into = bytes <= ROW_BYTES
        ? new Uint8Array(this.#pool.pop() ?? new ArrayBuffer(ROW_BYTES))
        : undefined;
      const data = encodeRecords(part, into);
      rows.push({ lastSeq: part[part.length - 1].seq, count: part.length, storedAt, data });
    };
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const size = recordSize(batch[i].topicBytes, batch[i].payload);
      if (bytes + size > ROW_BYTES && i > start) {
        row(start, i, bytes);
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    if (start < batch.length) row(start, batch.length, bytes);
    return rows;
  }

  /** Step 2: an appended message, kept in memory for next() while it fits. */
  #cached(m: OutboxMessage): void {
    const fits = this.#cache.length - this.#cacheHead < this.#cacheMessages &&
      this.#cachedBytes + m.payload.length <= this.#cacheBytes;
    if (this.#spilled || !fits) {
      this.#spilled = true;
      return;
    }
    this.#cache.push(m);
    this.#cachedBytes += m.payload.length;
  }

  /** Step 2: fills the (empty) cache from disk, in order; `onCommit` when it has some. */
  #readBack(): void {
    if (this.#reading) return;
    this.#reading = true;
    const after = this.#takenThrough;
    this.#link.request({ op: "read", after, limit: ROWS_PER_READ }).then(
      ({ rows }) => {
        this.#reading = false;
        if (this.#failed || this.#closing) return;
        try {
          this.#fill(rows);
        } catch (e) {
          if (!(e instanceof RecordError)) throw e;
          return this.#fail(new OutboxUnreadableError(this.#path, e.message));
        }
        if (this.#cacheHead < this.#cache.length) this.onCommit();
      },
      (e: Error) => {
        this.#reading = false;
        if (isCorruption(e)) {
          return this.#fail(new OutboxUnreadableError(this.#path, e.message, { cause: e }));
        }
        this.#log.error("Cannot read the outbox, retrying", { reason: e.message });
        setTimeout(() => this.onCommit(), RETRY_MS);
      },
    );
  }

  #fill(rows: StoredRow[]): void {
    let covered = this.#takenThrough;
    for (const row of rows) {
      const first = row.lastSeq - row.count + 1;
      const messages = decodeRecords(row.data, row.count);
      for (let i = Math.max(0, this.#takenThrough + 1 - first); i < messages.length; i++) {
        const seq = first + i;
        if (seq <= this.#ackedThrough || this.#ackedAbove.has(seq)) continue;
        const { topic, payload, retain } = messages[i];
        this.#cache.push({ seq, topic, payload, qos: 1, retain });
        this.#cachedBytes += payload.length;
      }
      covered = row.lastSeq;
      if (this.#cache.length >= this.#cacheMessages || this.#cachedBytes >= this.#cacheBytes) {
        return; // more on disk: still spilled
      }
    }
    // Everything appended is in memory once a short read reached the last message appended
    // (spilled messages whose commit had not finished when the read was asked for are read
    // after it).
    if (rows.length < ROWS_PER_READ && covered >= this.#nextSeq - 1) this.#spilled = false;
  }

  #fail(e: OutboxUnreadableError): void {
    if (this.#failed) return;
    this.#failed = e;
    this.#cancel();
    clearInterval(this.#expiryTimer);
    this.#log.error(`${e.message}: the outbox stopped; the next start moves the file aside`);
    this.#wakeFlushWaiters();
    this.onFatal(e);
  }

  #shrink(): void {
    this.#freedSinceShrink = 0;
    this.#link.request({ op: "shrink" }).catch((e) =>
      this.#log.debug("Outbox shrink failed", { reason: (e as Error).message })
    );
  }

  #startExpiry(): void {
    const maxAge = this.#maxAgeMs;
    if (maxAge === undefined) return;
    const every = Math.min(60_000, Math.max(1_000, Math.floor(maxAge / 4)));
    this.#expiryTimer = setInterval(() => this.#expire(), every);
  }

  /** Step 4: drops the rows stored more than maxAgeMs ago. */
  #expire(): void {
    if (this.#failed || this.#closing || this.#maxAgeMs === undefined) return;
    const before = this.#now() - this.#maxAgeMs;
    this.#link.request({ op: "expire", before }).then(
      ({ through }) => {
        if (through !== undefined) this.#expireThrough(through);
      },
      (e: Error) => this.#log.warn("Outbox age check failed", { reason: e.message }),
    );
  }

  #expireThrough(through: number): void {
    if (through <= this.#ackedThrough || this.#failed || this.#closing) return;
    let count = through - this.#ackedThrough;
    for (const seq of this.#ackedAbove) {
      if (seq <= through) {
        this.#ackedAbove.delete(seq);
        count--;
      }
    }
    this.#ackedThrough = through;
    while (this.#ackedAbove.delete(this.#ackedThrough + 1)) this.#ackedThrough++;
    if (this.#takenThrough < this.#ackedThrough) {
      this.#takenThrough = this.#ackedThrough;
      const kept = this.#cache.slice(this.#cacheHead).filter((m) => m.seq > this.#ackedThrough);
      this.#cache = kept;
      this.#cacheHead = 0;
      this.#cachedBytes = kept.reduce((n, m) => n + m.payload.length, 0);
    }
    this.#expired += count;
    this.#log.warn("Outbox messages dropped: older than the age cap", {
      messages: count,
      max_age_s: Math.round(this.#maxAgeMs! / 1000),
    });
    this.#ackedDirty = true;
    this.#schedule(true);
  }
}
