import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SyncedLink } from "./link.ts";
import { OutboxStore } from "./store.ts";

const row = (lastSeq: number) => ({
  lastSeq,
  count: 1,
  storedAt: 1,
  data: new TextEncoder().encode(`row ${lastSeq}`),
});

Deno.test("SyncedLink answers a write only once the WAL's fdatasync has returned, and the directory was synced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outbox-link-" });
  const path = `${dir}/outbox.db`;
  const calls: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  // Watch the syncs: the WAL's syncData is held until the test lets it go.
  const proto = Deno.FsFile.prototype;
  const { syncData, sync } = proto;
  proto.syncData = async function (this: Deno.FsFile) {
    calls.push("syncData");
    await held;
    return await syncData.call(this);
  };
  proto.sync = function (this: Deno.FsFile) {
    calls.push("sync");
    return sync.call(this);
  };
  try {
    const store = OutboxStore.open(path, { synchronous: "NORMAL" });
    const link = new SyncedLink(store);
    let answered = false;
    const write = link.request({ op: "write", rows: [row(1)], oldestAfter: 0 }).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    // Committed (another connection sees the row), not yet answered: the fsync is pending.
    const reader = new DatabaseSync(path, { readOnly: true });
    assert.equal((reader.prepare("SELECT count(*) AS n FROM batch").get() as { n: number }).n, 1);
    reader.close();
    assert.equal(answered, false, "answered before the WAL was synced");
    assert.deepEqual(calls, ["sync", "syncData"], "the directory first, then the WAL");
    release();
    assert.equal((await write).freed, 0);
    // Later writes sync the WAL again, not the directory.
    await link.request({ op: "write", rows: [row(2)], oldestAfter: 0 });
    assert.deepEqual(calls, ["sync", "syncData", "syncData"]);
    await link.request({ op: "close" });
  } finally {
    proto.syncData = syncData;
    proto.sync = sync;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SyncedLink turns a store failure into a rejected request", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outbox-link-" });
  try {
    const store = OutboxStore.open(`${dir}/outbox.db`, { synchronous: "NORMAL" });
    const link = new SyncedLink(store);
    await link.request({ op: "write", rows: [row(5)], oldestAfter: 0 });
    // The same last_seq again: a primary key violation, rolled back and reported.
    await assert.rejects(
      link.request({ op: "write", rows: [row(5)], oldestAfter: 0 }),
      /UNIQUE constraint failed/,
    );
    await link.request({ op: "close" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
