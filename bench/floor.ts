/**
 * The memory floor under issue 16's budget: RSS of `deno run` with the compile task's V8 flags
 * for (a) the runtime alone and (b) bench/floor_child.ts, mqtt.js's two clients to a local
 * mosquitto and nothing else of hsm-bridge, measured as section 4 measures `run`: idle after
 * start, peak during a burst of 100 B QoS 1 messages (VmHWM reset before it), idle after it;
 * each idle reading after the idle release `run` does (last-resort GC, malloc_trim).
 *
 *   deno run -A bench/floor.ts [--idle 40] [--burst 20000] [--rounds 3]
 *
 * Findings in bench/FINDINGS.md (issue 16).
 */
import { parseArgs } from "node:util";
import { v8Flags } from "../tests/helpers/cli.ts";
import { Mosquitto } from "../tests/helpers/mosquitto.ts";
import { tempDir, TestProcess } from "../tests/helpers/process.ts";
import { memoryMB, resetPeakRss, rssByMapping } from "./proc.ts";

const { values } = parseArgs({
  options: {
    idle: { type: "string", default: "40" },
    burst: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
  },
});
const idleMs = Number(values.idle) * 1000;
const burst = Number(values.burst);
const rounds = Number(values.rounds);
const CHILD = new URL("./floor_child.ts", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Reading {
  idle: number;
  burstPeak?: number;
  idleAfter?: number;
  /** RSS by mapping at the last idle reading. */
  mappings: Record<string, number>;
}

async function measure(port: number, bare: boolean): Promise<Reading> {
  const args = ["run", "-A", ...v8Flags(), CHILD, String(port), ...(bare ? ["--bare"] : [])];
  const child = new TestProcess(Deno.execPath(), args, { stdin: true });
  try {
    await child.waitForOutput(/^up$/m, 30_000);
    await sleep(idleMs);
    await child.write("release 1\n");
    await child.waitForOutput(/^released 1$/m);
    const idle = (await memoryMB(child.pid)).rss;
    if (bare) return { idle, mappings: await rssByMapping(child.pid) };
    await resetPeakRss(child.pid);
    await child.write(`burst ${burst}\n`);
    await child.waitForOutput(new RegExp(`^done ${burst}$`, "m"), 120_000);
    const burstPeak = (await memoryMB(child.pid)).peak;
    await sleep(idleMs);
    await child.write("release 2\n");
    await child.waitForOutput(/^released 2$/m);
    const idleAfter = (await memoryMB(child.pid)).rss;
    return { idle, burstPeak, idleAfter, mappings: await rssByMapping(child.pid) };
  } finally {
    await child.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (x: number | undefined) => x === undefined ? "-" : x.toFixed(1);

await using dir = await tempDir("hsm-bridge-floor-");
const broker = await Mosquitto.start({ dir: dir.path });
try {
  const results: Record<string, Reading[]> = { runtime: [], mqttjs: [] };
  for (let r = 0; r < rounds; r++) {
    console.error(`round ${r + 1}/${rounds} ...`);
    results.runtime.push(await measure(broker.port, true));
    results.mqttjs.push(await measure(broker.port, false));
  }
  console.log(
    `RSS in MB (10^6 bytes), median of ${rounds}; deno ${Deno.version.deno}, ${
      v8Flags().join(" ")
    }`,
  );
  console.log(`idle readings ${idleMs / 1000} s after start / after a burst of ${burst} x 100 B`);
  console.log("program                              idle  burst peak  idle after");
  for (
    const [name, label] of [["runtime", "deno run, nothing imported"], [
      "mqttjs",
      "mqtt.js: 2 clients, local mosquitto",
    ]]
  ) {
    const rs = results[name];
    const pick = (f: (r: Reading) => number | undefined) => {
      const xs = rs.map(f).filter((x): x is number => x !== undefined);
      return xs.length ? median(xs) : undefined;
    };
    console.log(
      `${label.padEnd(35)} ${mb(pick((r) => r.idle)).padStart(5)} ${
        mb(pick((r) => r.burstPeak)).padStart(11)
      } ${mb(pick((r) => r.idleAfter)).padStart(11)}`,
    );
  }
  console.log("issue 16's budget for hsm-bridge run:   64.0       100.0        70.0");
  console.log("\nRSS by mapping at the last idle reading, last round (MB):");
  for (const [name, rs] of Object.entries(results)) {
    const split = Object.entries(rs[rs.length - 1].mappings).sort((a, b) => b[1] - a[1]);
    console.log(`  ${name}: ${split.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`);
  }
} finally {
  await broker.stop();
}
