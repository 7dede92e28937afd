import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { setLogSink } from "../log.ts";
import { Outbox, type OutboxMessage, type OutboxOptions } from "./outbox.ts";
import { readOutboxStatus } from "./status.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hsm-bridge-outbox-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Log lines written while `fn` runs. */
async function captureLog<T>(fn: () => Promise<T> | T): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const previous = setLogSink((l) => lines.push(l));
  try {
    return { result: await fn(), lines };
  } finally {
    setLogSink(previous);
  }
}

function open(dir: string, extra: Partial<OutboxOptions> = {}): Outbox {
  return Outbox.open({ path: `${dir}/outbox.db`, maxBytes: 1024 * 1024, ...extra });
}

/** Appends `payloads` on topic "t"; returns the payloads whose `durable` ran, in order. */
function appendAll(outbox: Outbox, payloads: string[]): string[] {
  const durable: string[] = [];
  for (const p of payloads) {
    const r = outbox.append("t", enc(p), false, () => durable.push(p));
    assert.equal(r, "queued", p);
  }
  return durable;
}

/** Everything next() hands out, waiting for reads from disk (`onCommit`). */
async function drain(outbox: Outbox): Promise<OutboxMessage[]> {
  const out: OutboxMessage[] = [];
  for (;;) {
    for (let m = outbox.next(); m; m = outbox.next()) out.push(m);
    const more = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      outbox.onCommit = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    if (!more) return out;
  }
}

const names = (ms: OutboxMessage[]) => ms.map((m) => dec(m.payload));

Deno.test("Outbox reports a message safe once its commit returned, and hands it out in order at once", async () => {
  await withDir(async (dir) => {
    const outbox = open(dir);
    try {
      const safe = appendAll(outbox, ["a", "b", "c"]);
      assert.deepEqual(safe, [], "nothing safe before the commit");
      // Sending need not wait for the disk; only the local ack does.
      const sent = [outbox.next()!, outbox.next()!, outbox.next()!];
      assert.deepEqual(names(sent), ["a", "b", "c"]);
      assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3]);
      assert.equal(outbox.stats().uncommitted, 3);
      assert.equal(outbox.depth, 0);
      await outbox.flush();
      assert.deepEqual(safe, ["a", "b", "c"]);
      assert.equal(outbox.stats().commits, 1, "one transaction for the burst");
      assert.equal(outbox.depth, 3);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox reports safe, in order, what the cloud acked before its commit, and does not write it", async () => {
  await withDir(async (dir) => {
    let outbox = open(dir);
    const safe = appendAll(outbox, ["a", "b", "c", "d"]);
    const sent = [outbox.next()!, outbox.next()!, outbox.next()!, outbox.next()!];
    assert.deepEqual([outbox.unsafe, outbox.pending], [4, 4]);
    outbox.remove(sent[1].seq); // b first: a is neither on disk nor in the cloud
    assert.deepEqual(safe, [], "safe reports go in order");
    assert.deepEqual([outbox.unsafe, outbox.pending], [4, 3]);
    outbox.remove(sent[0].seq);
    assert.deepEqual(safe, ["a", "b"], "acked by the cloud: safe before any commit");
    assert.deepEqual([outbox.unsafe, outbox.pending], [2, 2]);
    await outbox.flush();
    assert.deepEqual(safe, ["a", "b", "c", "d"], "each reported once");
    assert.equal(outbox.stats().bytes, 2 * (1 + 1 + 7), "only c and d written (topic t, 1 byte)");
    assert.equal(outbox.depth, 2);
    // While a commit runs, the cloud's ack of one of its messages reports it at once.
    const more = appendAll(outbox, ["e", "f"]);
    const committing = outbox.flush(); // e and f are in this commit now
    outbox.remove(sent[2].seq);
    outbox.remove(sent[3].seq);
    for (const m of [outbox.next()!, outbox.next()!]) outbox.remove(m.seq);
    assert.deepEqual(more, ["e", "f"], "taken by the cloud during their commit");
    await committing;
    await outbox.flush();
    assert.deepEqual(more, ["e", "f"], "not reported again by the commit");
    assert.equal(outbox.depth, 0);
    // Everything acked, the last ones never written: a restart numbers on after them.
    appendAll(outbox, ["g"]);
    outbox.remove(outbox.next()!.seq);
    await outbox.close();
    outbox = open(dir);
    try {
      assert.equal(outbox.depth, 0);
      appendAll(outbox, ["h"]);
      await outbox.flush();
      assert.deepEqual((await drain(outbox)).map((m) => [dec(m.payload), m.seq]), [["h", 8]]);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox keeps what was not acked across a restart and resumes after the acked ones", async () => {
  await withDir(async (dir) => {
    let outbox = open(dir);
    appendAll(outbox, ["m1", "m2", "m3", "m4", "m5"]);
    await outbox.flush();
    const sent = await drain(outbox);
    outbox.remove(sent[0].seq);
    outbox.remove(sent[2].seq); // out of order: m2 is still in flight
    outbox.remove(sent[1].seq);
    assert.equal(outbox.stats().depth, 2);
    await outbox.close();
    assert.equal(readOutboxStatus(`${dir}/outbox.db`).depth, 2);
    outbox = open(dir);
    try {
      assert.equal(outbox.stats().depth, 2);
      assert.deepEqual(names(await drain(outbox)), ["m4", "m5"]);
      appendAll(outbox, ["m6"]);
      await outbox.flush();
      assert.deepEqual((await drain(outbox)).map((m) => [dec(m.payload), m.seq]), [["m6", 6]]);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox acks nothing while its commit fails, and commits on retry", async () => {
  await withDir(async (dir) => {
    const outbox = open(dir);
    // Another connection holds the write lock: our commit fails with "database is locked".
    const other = new DatabaseSync(`${dir}/outbox.db`);
    other.exec("BEGIN IMMEDIATE");
    try {
      const { result: durable, lines } = await captureLog(async () => {
        const durable = appendAll(outbox, ["a", "b"]);
        await sleep(300);
        return durable;
      });
      assert.deepEqual(durable, []);
      assert.match(lines.join("\n"), /Cannot write to the outbox, retrying.*database is locked/);
      other.exec("ROLLBACK");
      await outbox.flush(); // the retry, a second later
      assert.deepEqual(durable, ["a", "b"]);
      assert.equal(outbox.depth, 2);
    } finally {
      other.close();
      await outbox.close();
    }
  });
});

Deno.test("Outbox answers full past its size cap and frees room as the cloud acks", async () => {
  await withDir(async (dir) => {
    // Each record: 7 bytes + topic "t" + 10-byte payload = 18 bytes.
    const outbox = open(dir, { maxBytes: 18 * 3 });
    try {
      let rooms = 0;
      outbox.onRoom = () => rooms++;
      appendAll(outbox, ["0123456789", "0123456789", "0123456789"]);
      assert.equal(outbox.append("t", enc("0123456789"), false, () => {}), "full");
      assert.equal(outbox.append("t", enc("x".repeat(100)), false, () => {}), "too_large");
      await outbox.flush();
      const [first] = await drain(outbox);
      assert.equal(outbox.append("t", enc("0123456789"), false, () => {}), "full");
      outbox.remove(first.seq);
      // The whole row (one commit of three) leaves once all three are acked.
      await outbox.flush();
      assert.equal(rooms, 0);
      for (let seq = 2; seq <= 3; seq++) outbox.remove(seq);
      await outbox.flush(); // the caller wanted room: the deletes are committed at once
      assert.equal(rooms, 1);
      assert.equal(outbox.stats().bytes, 0);
      assert.equal(outbox.append("t", enc("0123456789"), false, () => {}), "queued");
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox sends from disk, in order, what did not fit in memory", async () => {
  await withDir(async (dir) => {
    const outbox = open(dir, { cacheMessages: 3 });
    try {
      const all = Array.from({ length: 200 }, (_, i) => `m${i}`);
      appendAll(outbox, all.slice(0, 150));
      // Three in memory; the rest is read back from disk once committed.
      const sent = [outbox.next()!, outbox.next()!, outbox.next()!];
      assert.equal(outbox.next(), undefined);
      appendAll(outbox, all.slice(150)); // new messages queue behind the backlog
      sent.push(...await drain(outbox));
      assert.deepEqual(names(sent), all);
      assert.deepEqual(sent.map((m) => m.seq), all.map((_, i) => i + 1));
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox gives the file's space back once a backlog of over 1 MiB drained", async () => {
  await withDir(async (dir) => {
    const outbox = open(dir, { maxBytes: 8_000_000 });
    const size = () =>
      ["outbox.db", "outbox.db-wal"].reduce((n, f) => n + Deno.statSync(`${dir}/${f}`).size, 0);
    try {
      appendAll(outbox, Array.from({ length: 2_000 }, () => "x".repeat(1_000)));
      await outbox.flush();
      const full = size();
      assert.ok(full > 2_000_000, `${full} bytes`);
      for (const m of await drain(outbox)) outbox.remove(m.seq);
      await outbox.flush();
      await sleep(200); // the shrink follows the last delete
      assert.equal(outbox.depth, 0);
      assert.ok(size() < 100_000, `${size()} bytes left of ${full}`);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox drops messages older than its age cap, with a warning", async () => {
  await withDir(async (dir) => {
    let now = 1_000_000;
    let outbox = open(dir, { now: () => now });
    appendAll(outbox, ["old1", "old2"]);
    await outbox.flush();
    now += 10_000;
    appendAll(outbox, ["new"]);
    await outbox.flush();
    assert.equal(outbox.stats().oldestAgeMs, 10_000);
    await outbox.close();
    now += 5_000;
    const { result, lines } = await captureLog(() =>
      open(dir, { now: () => now, maxAgeMs: 12_000 })
    );
    outbox = result;
    try {
      assert.match(lines.join("\n"), /WARN .*older than the age cap messages=2 max_age_s=12/);
      assert.equal(outbox.stats().expired, 2);
      assert.equal(outbox.stats().depth, 1);
      assert.equal(outbox.stats().oldestAgeMs, 5_000);
      assert.deepEqual(names(await drain(outbox)), ["new"]);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox moves an unreadable file aside with an error naming it and starts empty", async () => {
  for (
    const [what, damage, reason] of [
      [
        "not a database",
        (p: string) => Deno.writeFileSync(p, enc("x".repeat(5000))),
        /file is not a database/,
      ],
      ["another application's database", (p: string) => {
        const db = new DatabaseSync(p);
        db.exec("CREATE TABLE t (a); PRAGMA application_id = 42");
        db.close();
      }, /not an hsm-bridge outbox \(SQLite application_id 42\)/],
    ] as const
  ) {
    await withDir(async (dir) => {
      const path = `${dir}/outbox.db`;
      damage(path);
      const { result: outbox, lines } = await captureLog(() => open(dir));
      try {
        const aside = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
          /^outbox\.db\.corrupt-/.test(n)
        );
        assert.equal(aside.length, 1, what);
        const error = lines.find((l) => / ERROR /.test(l)) ?? "";
        assert.match(error, reason, what);
        assert.ok(error.includes(`"${path}"`) && error.includes(`${dir}/${aside[0]}`), error);
        appendAll(outbox, ["fresh"]);
        await outbox.flush();
        assert.deepEqual(names(await drain(outbox)), ["fresh"]);
      } finally {
        await outbox.close();
      }
    });
  }
});

Deno.test("Outbox stops, naming the file, when a row read back is damaged", async () => {
  await withDir(async (dir) => {
    let outbox = open(dir);
    appendAll(outbox, ["a", "b"]);
    await outbox.flush();
    await outbox.close();
    const db = new DatabaseSync(`${dir}/outbox.db`);
    db.exec("UPDATE batch SET data = x'ff00'");
    db.close();
    outbox = open(dir);
    try {
      let fatal: Error | undefined;
      outbox.onFatal = (e) => fatal = e;
      const { lines } = await captureLog(async () => {
        assert.equal(outbox.next(), undefined); // reading from disk
        await sleep(300);
      });
      assert.match(
        fatal?.message ?? "",
        /Outbox ".*outbox\.db" is unreadable: record header cut short/,
      );
      assert.match(lines.join("\n"), /the next start moves the file aside/);
      assert.equal(outbox.append("t", enc("x"), false, () => {}), "full");
    } finally {
      await outbox.close();
    }
  });
});

/** A child process that appends through Outbox and dies by SIGKILL at a chosen point. */
async function crashChild(dir: string, at: "before-commit" | "after-ack"): Promise<string> {
  const script = `
    import { DatabaseSync } from "node:sqlite";
    import { Outbox } from "${new URL("./outbox.ts", import.meta.url).href}";
    const outbox = Outbox.open({ path: "${dir}/outbox.db", maxBytes: 1 << 20, inline: true });
    const say = (s) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\\n"));
    for (const p of ["a1", "a2"]) outbox.append("t", new TextEncoder().encode(p), false, () => say("durable " + p));
    await outbox.flush();
    if (${at === "before-commit"}) {
      // The next transaction dies between its INSERT and its COMMIT.
      const exec = DatabaseSync.prototype.exec;
      DatabaseSync.prototype.exec = function (sql) {
        if (sql === "COMMIT") { say("killed before COMMIT"); Deno.kill(Deno.pid, "SIGKILL"); }
        return exec.call(this, sql);
      };
    }
    for (const p of ["b1", "b2"]) {
      outbox.append("t", new TextEncoder().encode(p), false, () => {
        say("durable " + p);
        if (p === "b2") Deno.kill(Deno.pid, "SIGKILL");
      });
    }
    await outbox.flush();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.signal, "SIGKILL", new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("Outbox keeps everything acknowledged through a SIGKILL", async () => {
  await withDir(async (dir) => {
    const said = await crashChild(dir, "after-ack");
    assert.match(said, /durable a1\ndurable a2\ndurable b1\ndurable b2/);
    const outbox = open(dir);
    try {
      assert.deepEqual(names(await drain(outbox)), ["a1", "a2", "b1", "b2"]);
    } finally {
      await outbox.close();
    }
  });
});

Deno.test("Outbox after a crash between write and commit: the batch is gone and was never acknowledged", async () => {
  await withDir(async (dir) => {
    const said = await crashChild(dir, "before-commit");
    assert.equal(said, "durable a1\ndurable a2\nkilled before COMMIT\n");
    assert.equal(readOutboxStatus(`${dir}/outbox.db`).depth, 2);
    const { result: outbox, lines } = await captureLog(() => open(dir));
    try {
      assert.ok(!lines.some((l) => / ERROR /.test(l)), lines.join("\n"));
      assert.deepEqual(names(await drain(outbox)), ["a1", "a2"]);
    } finally {
      await outbox.close();
    }
  });
});
