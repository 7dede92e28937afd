/**
 * The durable outbox of the local -> cloud direction: messages on disk (SQLite, WAL, group
 * commit) from before they are acknowledged to the local broker until the cloud's PUBACK (those
 * the cloud acknowledged before their commit are acknowledged locally then, and not written).
 * The only module that uses node:sqlite.
 */
export {
  type AppendResult,
  Outbox,
  type OutboxMessage,
  type OutboxOptions,
  type OutboxStats,
} from "./outbox.ts";
export { type OutboxFileStatus, readOutboxStatus } from "./status.ts";
export { OutboxUnreadableError } from "./store.ts";
