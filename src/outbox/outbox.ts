/**
 * The durable outbox of the local -> cloud direction: a FIFO of messages on disk, numbered in
 * the order they arrived (seq), written by group commit.
 *
 *   append(m, durable) ──> batch (memory) ──commit──> file ──┬─> durable(): the caller acks m
 *                                                            └─> next(): m, in seq order
 *   remove(seq) (the cloud's PUBACK) ──> acked_through moves ──> rows deleted at a commit
 *
 * 1. Group commit: appends made in one event-loop turn are committed together at the end of
 *    the turn (setImmediate), in one transaction with one fsync. Under load a turn carries
 *    what arrived while the last commit ran, so batches grow with the rate. Nothing is
 *    reported durable before its commit returned.
 * 2. Committed messages stay in memory for `next()` while they fit (`cacheMessages`,
 *    `cacheBytes`); beyond that they are only on disk ("spilled") and `next()` reads them back
 *    in order, so a long outage costs disk, not memory.
 * 3. `remove(seq)` marks a message gone. `acked_through` is the highest seq below which all
 *    are gone; it is written, and the rows it covers deleted, with the next commit (a delete
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
import { isCorruption, moveAside, OutboxStore, OutboxUnreadableError } from "./store.ts";

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
  /** Age of the oldest message stored, ms; undefined when empty. */
  readonly oldestAgeMs?: number;
  /** Messages dropped by the age cap since start. */
  readonly expired: number;
  /** Transactions committed since start. */
  readonly commits: number;
  /** Messages waiting for the next commit. */
  readonly uncommitted: number;
}

interface Uncommitted {
  readonly topic: string;
  readonly topicBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly retain: boolean;
  readonly owner: unknown;
  readonly durable: () => void;
}

/** Rows read per query when sending from disk. */
const ROWS_PER_READ = 64;
/** Delay of a commit that only deletes (nothing appended): acks need not be durable soon. */
const DELETE_COMMIT_MS = 100;
/** Wait before retrying a commit that failed (disk full, I/O error). */
const RETRY_MS = 1_000;
/** Shrink the file once a backlog of this many bytes drained. */
const SHRINK_AFTER_BYTES = 1024 * 1024;

export class Outbox {
  readonly #store: OutboxStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly maxBytes: number;
  readonly #maxAgeMs: number | undefined;
  readonly #cacheMessages: number;
  readonly #cacheBytes: number;

  #batch: Uncommitted[] = [];
  #batchBytes = 0;
  /** seq of the next message committed. */
  #nextSeq: number;
  /** Every message with seq <= this is gone. */
  #ackedThrough: number;
  /** Gone messages above `#ackedThrough` (acks out of order: a refused message, say). */
  readonly #ackedAbove = new Set<number>();
  #ackedDirty = false;
  /** Record bytes in the file. */
  #bytes: number;
  #freedSinceShrink = 0;

  /** Committed, not yet handed out by next(): seq > #takenThrough, contiguous. */
  #cache: OutboxMessage[] = [];
  #cacheHead = 0;
  #cachedBytes = 0;
  #takenThrough: number;
  /** Committed messages after the cache exist on disk only. */
  #spilled: boolean;

  /** A commit at the end of this event-loop turn. */
  #immediate: ReturnType<typeof setImmediate> | undefined;
  /** A later commit: deletes only, or a retry. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** An append was refused for room: commit deletes at once, they make room. */
  #wantsRoom = false;
  /** A commit failed; the next one waits for its retry. */
  #retrying = false;
  #expiryTimer: ReturnType<typeof setInterval> | undefined;
  #writeError: string | undefined;
  #failed: Error | undefined;
  #closed = false;
  #expired = 0;
  #commits = 0;

  /** After a commit that made messages available to `next()`. */
  onCommit: () => void = () => {};
  /** After a commit that freed room (an `append()` answered "full" may succeed now). */
  onRoom: () => void = () => {};
  /** The file turned out damaged while running: the outbox stopped. */
  onFatal: (error: Error) => void = () => {};

  private constructor(store: OutboxStore, options: OutboxOptions, log: Logger) {
    this.#store = store;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.maxBytes = options.maxBytes;
    this.#maxAgeMs = options.maxAgeMs;
    this.#cacheMessages = options.cacheMessages ?? 4_000;
    this.#cacheBytes = options.cacheBytes ?? 4 * 1024 * 1024;
    const s = store.summary();
    this.#ackedThrough = s.ackedThrough;
    this.#takenThrough = s.ackedThrough;
    this.#nextSeq = s.lastSeq + 1;
    this.#bytes = s.bytes;
    this.#spilled = s.lastSeq > s.ackedThrough;
  }

  /**
   * Opens the outbox at `options.path` (creating it). A file that is damaged or not an outbox
   * is moved aside with an error naming it, and a new one is started. Other errors (the
   * directory is not writable, say) are thrown.
   */
  static open(options: OutboxOptions): Outbox {
    const log = options.log ?? getLogger("outbox");
    let store: OutboxStore;
    try {
      store = OutboxStore.open(options.path);
    } catch (e) {
      if (!(e instanceof OutboxUnreadableError)) throw e;
      const aside = moveAside(options.path);
      log.error(
        `${e.message}: moved aside to "${aside}"; starting with an empty outbox ` +
          `(messages in the old file are not sent)`,
      );
      store = OutboxStore.open(options.path);
    }
    const outbox = new Outbox(store, options, log);
    const s = outbox.stats();
    log.info("Outbox opened", {
      path: options.path,
      messages: s.depth,
      bytes: s.bytes,
      max_bytes: outbox.maxBytes,
    });
    outbox.#startExpiry();
    return outbox;
  }

  /** Whether a message could ever fit (its record is not larger than the whole outbox). */
  fits(topic: string, payload: Uint8Array): boolean {
    return recordSize(encodeTopic(topic), payload) <= this.maxBytes;
  }

  /** Messages stored and not yet gone (see stats()). */
  get depth(): number {
    return this.#nextSeq - 1 - this.#ackedThrough - this.#ackedAbove.size;
  }

  /** Messages waiting for the next commit. */
  get uncommitted(): number {
    return this.#batch.length;
  }

  /**
   * Queues a message for the next commit; `durable` runs once it is on disk. "full": it
   * would pass the size cap (hold it, try again after `onRoom`); "too_large": it never fits.
   */
  append(
    topic: string,
    payload: Uint8Array,
    retain: boolean,
    owner: unknown,
    durable: () => void,
  ): AppendResult {
    const topicBytes = encodeTopic(topic);
    const size = recordSize(topicBytes, payload);
    if (size > this.maxBytes) return "too_large";
    if (this.#failed || this.#bytes + this.#batchBytes + size > this.maxBytes) {
      this.#wantsRoom = true;
      return "full";
    }
    this.#batch.push({ topic, topicBytes, payload, retain, owner, durable });
    this.#batchBytes += size;
    this.#schedule(true);
    return "queued";
  }

  /** Forgets the uncommitted appends of `owner` (a source that will send them again). */
  discard(owner: unknown): number {
    const before = this.#batch.length;
    if (!before) return 0;
    this.#batch = this.#batch.filter((m) => m.owner !== owner);
    this.#batchBytes = 0;
    for (const m of this.#batch) this.#batchBytes += recordSize(m.topicBytes, m.payload);
    return before - this.#batch.length;
  }

  /** The next committed message not handed out yet, in seq order. */
  next(): OutboxMessage | undefined {
    if (this.#failed) return undefined;
    if (this.#cacheHead === this.#cache.length) {
      this.#cache = [];
      this.#cacheHead = 0;
      this.#cachedBytes = 0;
      if (this.#spilled) this.#readBack();
    }
    const m = this.#cache[this.#cacheHead];
    if (!m) return undefined;
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
    } else {
      this.#ackedAbove.add(seq);
    }
    this.#ackedDirty = true;
    this.#schedule(false);
  }

  /** Commits what waits, now. */
  flush(): void {
    this.#commit();
  }

  stats(): OutboxStats {
    let oldestAgeMs: number | undefined;
    if (!this.#failed && !this.#closed) {
      const at = this.#store.oldestStoredAt(this.#ackedThrough);
      if (at !== undefined) oldestAgeMs = Math.max(0, this.#now() - at);
    }
    return {
      depth: this.depth,
      bytes: this.#bytes,
      maxBytes: this.maxBytes,
      oldestAgeMs,
      expired: this.#expired,
      commits: this.#commits,
      uncommitted: this.#batch.length,
    };
  }

  /** Bytes the file and its WAL take on disk. */
  fileBytes(): number {
    return this.#store.fileBytes();
  }

  /** Commits what waits and closes the file. */
  close(): void {
    if (this.#closed) return;
    clearInterval(this.#expiryTimer);
    if (!this.#failed) this.#commit();
    this.#cancelCommits();
    this.#closed = true;
    this.#store.close();
  }

  /** Plans a commit: at the end of this turn for appends, a little later for deletes. */
  #schedule(appended: boolean): void {
    if (this.#closed || this.#failed || this.#retrying || this.#immediate) return;
    if (appended || this.#wantsRoom) {
      // After this turn's I/O callbacks and ticks, which carry more of the same burst.
      this.#immediate = setImmediate(() => this.#commit());
    } else {
      this.#timer ??= setTimeout(() => this.#commit(), DELETE_COMMIT_MS);
    }
  }

  #cancelCommits(): void {
    if (this.#immediate) clearImmediate(this.#immediate);
    clearTimeout(this.#timer);
    this.#immediate = undefined;
    this.#timer = undefined;
  }

  /** Step 1/3: one transaction for the batch and the deletes. */
  #commit(): void {
    this.#cancelCommits();
    this.#retrying = false;
    if (this.#failed || this.#closed) return;
    const batch = this.#batch;
    if (!batch.length && !this.#ackedDirty) return;
    const row = batch.length
      ? {
        lastSeq: this.#nextSeq + batch.length - 1,
        count: batch.length,
        storedAt: this.#now(),
        data: encodeRecords(batch),
      }
      : undefined;
    const ackedThrough = this.#ackedDirty ? this.#ackedThrough : undefined;
    let freed: number;
    try {
      freed = this.#store.write(row, ackedThrough);
    } catch (e) {
      this.#writeFailed(e as Error);
      return;
    }
    if (this.#writeError) {
      this.#log.info("Outbox writes work again", { path: this.#store.path });
      this.#writeError = undefined;
    }
    this.#commits++;
    if (ackedThrough !== undefined) this.#ackedDirty = false;
    this.#bytes += (row?.data.length ?? 0) - freed;
    this.#freedSinceShrink += freed;
    if (row) {
      this.#batch = [];
      this.#batchBytes = 0;
      let seq = this.#nextSeq;
      this.#nextSeq += batch.length;
      for (const m of batch) {
        this.#cached({ seq: seq++, topic: m.topic, payload: m.payload, qos: 1, retain: m.retain });
      }
      for (const m of batch) m.durable();
    }
    if (freed) {
      this.#wantsRoom = false;
      if (this.#bytes === 0 && this.#freedSinceShrink >= SHRINK_AFTER_BYTES) this.#shrink();
      this.onRoom();
    }
    if (row) this.onCommit();
  }

  /** Step 2: a committed message, kept in memory for next() while it fits. */
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

  /** Step 2: fills the (empty) cache from disk, in order. */
  #readBack(): void {
    let rows;
    try {
      rows = this.#store.rowsAfter(this.#takenThrough, ROWS_PER_READ);
      for (const row of rows) {
        const first = row.lastSeq - row.count + 1;
        const messages = decodeRecords(row.data, row.count);
        for (let i = Math.max(0, this.#takenThrough + 1 - first); i < messages.length; i++) {
          const seq = first + i;
          if (seq <= this.#ackedThrough || this.#ackedAbove.has(seq)) continue;
          const { topic, payload, retain } = messages[i];
          this.#cache.push({ seq, topic, payload, qos: 1, retain });
          this.#cachedBytes += messages[i].payload.length;
        }
        if (this.#cache.length >= this.#cacheMessages || this.#cachedBytes >= this.#cacheBytes) {
          return; // more on disk: still spilled
        }
      }
    } catch (e) {
      if (e instanceof RecordError || isCorruption(e)) {
        return this.#fail(new OutboxUnreadableError(this.#store.path, (e as Error).message));
      }
      throw e;
    }
    // Everything committed is in memory when the last read came back short.
    if (rows.length < ROWS_PER_READ) this.#spilled = false;
  }

  #writeFailed(e: Error): void {
    if (isCorruption(e)) {
      return this.#fail(new OutboxUnreadableError(this.#store.path, e.message, { cause: e }));
    }
    if (this.#writeError !== e.message) {
      this.#log.error("Cannot write to the outbox, retrying (messages stay unacknowledged)", {
        path: this.#store.path,
        reason: e.message,
      });
      this.#writeError = e.message;
    }
    this.#retrying = true; // no earlier commit
    this.#timer = setTimeout(() => this.#commit(), RETRY_MS);
  }

  #fail(e: OutboxUnreadableError): void {
    if (this.#failed) return;
    this.#failed = e;
    this.#cancelCommits();
    clearInterval(this.#expiryTimer);
    this.#log.error(`${e.message}: the outbox stopped; the next start moves the file aside`);
    this.onFatal(e);
  }

  #shrink(): void {
    this.#freedSinceShrink = 0;
    try {
      this.#store.shrink();
    } catch (e) {
      this.#log.debug("Outbox shrink failed", { reason: (e as Error).message });
    }
  }

  #startExpiry(): void {
    const maxAge = this.#maxAgeMs;
    if (maxAge === undefined) return;
    this.#expire();
    const every = Math.min(60_000, Math.max(1_000, Math.floor(maxAge / 4)));
    this.#expiryTimer = setInterval(() => this.#expire(), every);
  }

  /** Step 4: drops the rows stored more than maxAgeMs ago. */
  #expire(): void {
    if (this.#failed || this.#closed || this.#maxAgeMs === undefined) return;
    const through = this.#store.lastSeqStoredBefore(this.#now() - this.#maxAgeMs);
    if (through === undefined || through <= this.#ackedThrough) return;
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
      max_age_s: Math.round(this.#maxAgeMs / 1000),
    });
    this.#ackedDirty = true;
    this.#schedule(true);
  }
}
