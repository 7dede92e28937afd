/**
 * The outbox file: SQLite through `node:sqlite`, in WAL mode. With `synchronous = FULL` the WAL
 * is fsynced at every commit, so a commit that returned survives a power cut on storage that
 * honours fsync; `run` opens it with `synchronous = NORMAL` and fsyncs the WAL itself, off the
 * event loop, before a commit counts (link.ts SyncedLink). A SIGKILL loses nothing committed in
 * any mode.
 *
 * Schema (PRAGMA user_version 1, application_id "hsmb"):
 *
 *   batch(last_seq INTEGER PRIMARY KEY, count, stored_at, data)
 *         messages last_seq - count + 1 .. last_seq, in the order the local broker delivered
 *         them: a group commit's messages in rows of up to 64 KiB; `data` is codec.ts's
 *         records; `stored_at` the commit's wall-clock time in ms
 *   state(acked_through)
 *         every message with seq <= acked_through has left (the cloud's PUBACK, refused or
 *         expired); written in the same transaction that deletes the rows it covers
 *
 * Only this file (and status.ts, read-only) touches SQLite.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** PRAGMA application_id of an outbox file: "hsmb". */
export const APPLICATION_ID = 0x68736d62;
export const SCHEMA_VERSION = 1;

/** SQLite result codes that mean the file is not a (sound) database. */
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

export interface StoredRow {
  readonly lastSeq: number;
  readonly count: number;
  readonly storedAt: number;
  readonly data: Uint8Array;
}

/** What is in the file, read at open. */
export interface StoreSummary {
  readonly ackedThrough: number;
  /** The highest seq stored (acked_through when the outbox is empty). */
  readonly lastSeq: number;
  readonly rows: number;
  /** Bytes of record data in the rows. */
  readonly bytes: number;
}

/** The file cannot be used as an outbox: damaged, not a database, or not ours. */
export class OutboxUnreadableError extends Error {
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`Outbox "${path}" is unreadable: ${reason}`, options);
    this.name = "OutboxUnreadableError";
  }
}

/** Whether a node:sqlite error says the file is damaged or not a database. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  return code === SQLITE_CORRUPT || code === SQLITE_NOTADB;
}

const CREATE = `
  CREATE TABLE batch (
    last_seq INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    data BLOB NOT NULL
  );
  CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    acked_through INTEGER NOT NULL
  );
  INSERT INTO state (id, acked_through) VALUES (1, 0);
  PRAGMA application_id = ${APPLICATION_ID};
  PRAGMA user_version = ${SCHEMA_VERSION};
`;

export class OutboxStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #deleteThrough: StatementSync;
  readonly #setAcked: StatementSync;
  readonly #rowsAfter: StatementSync;
  readonly #oldest: StatementSync;
  readonly #lastBefore: StatementSync;

  private constructor(readonly path: string, db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare(
      "INSERT INTO batch (last_seq, count, stored_at, data) VALUES (?, ?, ?, ?)",
    );
    this.#deleteThrough = db.prepare(
      "DELETE FROM batch WHERE last_seq <= ? RETURNING length(data) AS bytes",
    );
    this.#setAcked = db.prepare("UPDATE state SET acked_through = ? WHERE id = 1");
    this.#rowsAfter = db.prepare(
      "SELECT last_seq, count, stored_at, data FROM batch WHERE last_seq > ? " +
        "ORDER BY last_seq LIMIT ?",
    );
    this.#oldest = db.prepare(
      "SELECT stored_at FROM batch WHERE last_seq > ? ORDER BY last_seq LIMIT 1",
    );
    this.#lastBefore = db.prepare(
      "SELECT max(last_seq) AS seq FROM batch WHERE stored_at < ?",
    );
  }

  /**
   * Opens (creating) the outbox at `path`, checked: OutboxUnreadableError when it is damaged,
   * not a database or not an outbox; other errors (permissions) as node:sqlite throws them.
   * `check: false` skips SQLite's integrity check (a file checked a moment ago).
   */
  static open(
    path: string,
    { check = true, synchronous = "FULL" }: { check?: boolean; synchronous?: "FULL" | "NORMAL" } =
      {},
  ): OutboxStore {
    return OutboxStore.#opened(path, () => new DatabaseSync(path), (db) => {
      if (isNew(db)) {
        // auto_vacuum must be chosen before the first table exists.
        db.exec("PRAGMA auto_vacuum = INCREMENTAL");
        db.exec("PRAGMA journal_mode = WAL");
        db.exec(`BEGIN; ${CREATE} COMMIT;`);
      } else {
        checkIdentity(path, db);
      }
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      db.exec(`PRAGMA journal_size_limit = ${8 * 1024 * 1024}`);
      if (check) {
        const r = db.prepare("PRAGMA quick_check(1)").get() as { quick_check: string };
        if (r.quick_check !== "ok") {
          throw new OutboxUnreadableError(path, `SQLite integrity check: ${r.quick_check}`);
        }
      }
    });
  }

  /**
   * The store on the database `open` makes, once `prepare` passed; otherwise the database is
   * closed and the error thrown, as OutboxUnreadableError when SQLite found the file damaged or
   * not a database.
   */
  static #opened(
    path: string,
    open: () => DatabaseSync,
    prepare: (db: DatabaseSync) => void,
  ): OutboxStore {
    let db: DatabaseSync | undefined;
    try {
      db = open();
      prepare(db);
      return new OutboxStore(path, db);
    } catch (e) {
      try {
        db?.close();
      } catch { /* already unusable */ }
      if (e instanceof OutboxUnreadableError || !isCorruption(e)) throw e;
      throw new OutboxUnreadableError(path, (e as Error).message, { cause: e });
    }
  }

  /** Opens an existing outbox read-only (`outbox status`), checked as `open` does. */
  static openReadOnly(path: string): OutboxStore {
    return OutboxStore.#opened(path, () => new DatabaseSync(path, { readOnly: true }), (db) => {
      checkIdentity(path, db);
    });
  }

  summary(): StoreSummary {
    const s = this.#db.prepare(
      "SELECT (SELECT acked_through FROM state WHERE id = 1) AS acked, count(*) AS rows, " +
        "coalesce(sum(length(data)), 0) AS bytes, coalesce(max(last_seq), 0) AS last FROM batch",
    ).get() as { acked: number; rows: number; bytes: number; last: number };
    return {
      ackedThrough: s.acked,
      lastSeq: Math.max(s.acked, s.last),
      rows: s.rows,
      bytes: s.bytes,
    };
  }

  /**
   * One transaction: adds `rows` and, with `ackedThrough`, records it and deletes the rows it
   * covers. Returns the record bytes deleted. Throws (having rolled back) on failure.
   */
  write(rows: readonly StoredRow[], ackedThrough: number | undefined): number {
    let freed = 0;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const row of rows) this.#insert.run(row.lastSeq, row.count, row.storedAt, row.data);
      if (ackedThrough !== undefined) {
        for (const r of this.#deleteThrough.all(ackedThrough)) freed += r.bytes as number;
        this.#setAcked.run(ackedThrough);
      }
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
    return freed;
  }

  /** Up to `limit` rows holding messages after `seq`, oldest first. */
  rowsAfter(seq: number, limit: number): StoredRow[] {
    return this.#rowsAfter.all(seq, limit).map((r) => ({
      lastSeq: r.last_seq as number,
      count: r.count as number,
      storedAt: r.stored_at as number,
      data: r.data as Uint8Array,
    }));
  }

  /** When the oldest row holding messages after `seq` was stored (ms), if there is one. */
  oldestStoredAt(seq: number): number | undefined {
    const r = this.#oldest.get(seq) as { stored_at: number } | undefined;
    return r?.stored_at;
  }

  /** The last seq of the newest row stored before `time` (ms), if any. */
  lastSeqStoredBefore(time: number): number | undefined {
    const r = this.#lastBefore.get(time) as { seq: number | null };
    return r.seq ?? undefined;
  }

  /** Gives the pages of deleted rows back to the file system (after a backlog drained). */
  shrink(): void {
    if (pragma(this.#db, "freelist_count") === 0) return;
    // Each step of this pragma frees one page: step it to the end (exec() steps it once).
    this.#db.prepare("PRAGMA incremental_vacuum").all();
    this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  /** Bytes the file and its WAL take on disk now. */
  fileBytes(): number {
    let n = 0;
    for (const p of [this.path, `${this.path}-wal`]) {
      try {
        n += Deno.statSync(p).size;
      } catch { /* absent */ }
    }
    return n;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function isNew(db: DatabaseSync): boolean {
  return pragma(db, "application_id") === 0 && pragma(db, "user_version") === 0 &&
    pragma(db, "page_count") === 0;
}

/** Throws OutboxUnreadableError unless `db` is an outbox of the schema this code reads. */
function checkIdentity(path: string, db: DatabaseSync): void {
  const appId = pragma(db, "application_id");
  if (appId !== APPLICATION_ID) {
    throw new OutboxUnreadableError(
      path,
      `not an hsm-bridge outbox (SQLite application_id ${appId})`,
    );
  }
  const version = pragma(db, "user_version");
  if (version !== SCHEMA_VERSION) {
    throw new OutboxUnreadableError(
      path,
      `schema version ${version}, this hsm-bridge reads version ${SCHEMA_VERSION}`,
    );
  }
}

function pragma(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, number>;
  return row[name];
}

/**
 * Moves a damaged outbox (and its WAL) aside as `<path>.corrupt-<time>`; the shared-memory
 * index is deleted (SQLite rebuilds it). Returns the new name of the file.
 */
export function moveAside(path: string, now = new Date()): string {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, "-")}`;
  Deno.renameSync(path, aside);
  try {
    Deno.renameSync(`${path}-wal`, `${aside}-wal`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    Deno.removeSync(`${path}-shm`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return aside;
}
