/**
 * What an outbox file holds, read without changing it (`hsm-bridge outbox status`), also while
 * the bridge runs: WAL mode lets a reader in beside the writer.
 */
import { OutboxStore } from "./store.ts";

export interface OutboxFileStatus {
  readonly path: string;
  /** False when there is no outbox file yet (nothing was ever stored). */
  readonly exists: boolean;
  /** Messages stored and not yet acknowledged by the cloud (as of the last commit). */
  readonly depth: number;
  /** Record bytes of the stored messages (rows not yet deleted included). */
  readonly bytes: number;
  /** When the oldest stored message was committed (ms since the epoch). */
  readonly oldestStoredAt?: number;
  /** Bytes the file and its WAL take on disk. */
  readonly fileBytes: number;
}

/** Reads the status of the outbox at `path`; OutboxUnreadableError when it is damaged. */
export function readOutboxStatus(path: string): OutboxFileStatus {
  try {
    Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { path, exists: false, depth: 0, bytes: 0, fileBytes: 0 };
    }
    throw e;
  }
  const store = OutboxStore.openReadOnly(path);
  try {
    const s = store.summary();
    return {
      path,
      exists: true,
      depth: s.lastSeq - s.ackedThrough,
      bytes: s.bytes,
      oldestStoredAt: store.oldestStoredAt(s.ackedThrough),
      fileBytes: store.fileBytes(),
    };
  } finally {
    store.close();
  }
}
