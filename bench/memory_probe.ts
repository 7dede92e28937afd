/**
 * Diagnosis behind the RSS figures: one bridge under repeated throughput batches, with VmRSS /
 * VmHWM after each batch and, with --inspect, the V8 heap before and after a forced full GC
 * (a JS leak shows as heap-after-GC growing; runtime-kept memory as RSS growing while the heap
 * after GC stays flat).
 *
 *   deno run -A bench/memory_probe.ts [--subject hsm-file] [--size 100] [--batches 8]
 *       [--messages 20000] [--idle SECONDS] [--inspect] [--snapshot DIR] [--gc] [--alloc] [--smaps] [--bridge-flags "--v8-flags=..."]
 *       [--bridge-env NAME=VALUE,...]
 *
 * --snapshot DIR (implies --inspect) saves a heap snapshot at each reading into DIR and prints
 * where its bytes are (bench/heap_snapshot.ts: by V8 type and by module).
 * --alloc (implies --inspect) samples allocations during the first batch and prints the
 * functions that allocate the most, in bytes per message. --smaps splits RSS by mapping (the
 * deno executable, shared libraries, malloc heap, anonymous memory: V8 heap and thread arenas).
 */
import { freePort } from "../tests/helpers/ports.ts";
import { cleanupAll, installSignalHandlers } from "./cleanup.ts";
import { formatSummary, summariseSnapshot } from "./heap_snapshot.ts";
import { Inspector } from "./inspector.ts";
import { LoadPath, sleep } from "./load.ts";
import { memoryMB, rssByMapping } from "./proc.ts";
import { BenchEnv, startRig, type Subject } from "./rig.ts";

function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Deno.args[at + 1] : fallback;
}
const flag = (name: string) => Deno.args.includes(`--${name}`);

const subject = option("subject", "hsm-file") as Subject;
const size = Number(option("size", "100"));
const batches = Number(option("batches", "8"));
const messages = Number(option("messages", "20000"));
const idleSeconds = Number(option("idle", "0"));
const alloc = flag("alloc");
const snapshotDir = option("snapshot", "");
const inspect = flag("inspect") || alloc || !!snapshotDir;
const forceGc = flag("gc");
const bridgeFlags = option("bridge-flags", "").split(/\s+/).filter(Boolean);
const bridgeEnv = Object.fromEntries(
  option("bridge-env", "").split(",").filter(Boolean).map((kv) => kv.split("=", 2)),
);

installSignalHandlers();
const tmp = await Deno.makeTempDir({ prefix: "hsm-bridge-memprobe-" });
try {
  const env = await BenchEnv.create(tmp);
  const port = freePort();
  const rig = await startRig(env, subject, `${tmp}/rig`, {
    denoFlags: [...(inspect ? [`--inspect=127.0.0.1:${port}`] : []), ...bridgeFlags],
    env: bridgeEnv,
  });
  if (!rig.pid) throw new Error(`Subject "${subject}" has no bridging process`);
  const inspector = inspect ? await Inspector.connect(port) : undefined;
  const path = await LoadPath.open(rig.out, "memprobe");
  const show = async (label: string) => {
    const m = await memoryMB(rig.pid!);
    let line = `${label}: RSS ${m.rss.toFixed(1)} MB, peak ${m.peak.toFixed(1)} MB`;
    if (inspector) {
      const h = await inspector.heap();
      line += `, heap ${h.usedMB.toFixed(1)} used / ${h.totalMB.toFixed(1)} total`;
      if (forceGc) {
        const g = await inspector.heap({ gc: true });
        const after = await memoryMB(rig.pid!);
        line += `; after full GC: heap ${g.usedMB.toFixed(1)} / ${g.totalMB.toFixed(1)}, ` +
          `RSS ${after.rss.toFixed(1)}`;
      }
    }
    console.log(line);
    if (inspector && snapshotDir) {
      const text = await inspector.heapSnapshot();
      const file = `${snapshotDir}/${label.replace(/\W+/g, "-")}.heapsnapshot`;
      await Deno.mkdir(snapshotDir, { recursive: true });
      await Deno.writeTextFile(file, text);
      console.log(
        `  ${formatSummary(summariseSnapshot(JSON.parse(text), 15)).replaceAll("\n", "\n  ")}`,
      );
      console.log(`  (saved to ${file})`);
    }
    if (flag("smaps")) {
      const parts = Object.entries(await rssByMapping(rig.pid!)).sort((a, b) => b[1] - a[1]);
      console.log(`  RSS by mapping: ${parts.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`);
    }
  };
  try {
    console.log(`bridge pid ${rig.pid}`);
    await show("started");
    if (idleSeconds > 0) {
      await sleep(idleSeconds * 1000);
      await show(`after ${idleSeconds} s idle`);
    }
    await path.probe();
    for (let i = 0; i < batches; i++) {
      if (alloc && i === 0) await inspector!.startAllocationSampling();
      const t = await path.throughput({ n: messages, size, window: 500 });
      if (alloc && i === 0) {
        const rows = await inspector!.stopAllocationSampling();
        const total = rows.reduce((a, r) => a + r.bytes, 0);
        console.log(`allocated ~${(total / messages).toFixed(0)} bytes per message; top:`);
        for (const r of rows.slice(0, 25)) {
          console.log(
            `  ${(r.bytes / messages).toFixed(0).padStart(7)} B/msg  ${r.name.slice(0, 110)}`,
          );
        }
        // By area: the npm package, our src/<area>, or the runtime.
        const areas = new Map<string, number>();
        for (const r of rows) {
          const file = r.name.slice(r.name.indexOf(" ") + 1);
          const area = /^src\/\w+/.exec(file)?.[0] ?? /^(@[^/]+\/)?[^/:]+/.exec(file)?.[0] ?? file;
          areas.set(area, (areas.get(area) ?? 0) + r.bytes);
        }
        console.log("by area:");
        for (const [area, bytes] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
          console.log(`  ${(bytes / messages).toFixed(0).padStart(7)} B/msg  ${area}`);
        }
      }
      await show(`batch ${i + 1} (${t.msgsPerSec.toFixed(0)} msg/s)`);
    }
    await sleep(10_000);
    await show("after 10 s idle");
  } finally {
    inspector?.close();
    await path.close();
    await rig.stop();
  }
} finally {
  await cleanupAll();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
