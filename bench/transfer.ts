/**
 * Sections 1 and 2: throughput and latency through each subject, local -> cloud ("out") and
 * cloud -> local ("in"). Rounds are interleaved (round 1 of every subject, then round 2, ...,
 * the subject order rotating) so that noise from other work on the machine spreads over all
 * subjects instead of hitting one of them.
 *
 * Per subject and round, with fresh brokers and a fresh bridge process:
 *   probe both paths -> warm-up -> out: throughput 100 B, 4 KiB; latency 100 B, 4 KiB
 *   -> in: throughput 100 B, 4 KiB -> peak RSS (VmHWM) of the bridge process -> stop.
 */
import { checkInterrupted } from "./cleanup.ts";
import { type LatencyResult, LoadPath, type ThroughputResult } from "./load.ts";
import { cpuSeconds, memoryMB } from "./proc.ts";
import { type BenchEnv, type Rig, startRig, type Subject } from "./rig.ts";

export type Direction = "out" | "in";

export interface TransferConfig {
  rounds: number;
  sizes: number[];
  /** Messages per throughput run, by payload size. */
  messages: Record<number, number>;
  /** End-to-end in-flight limit of a throughput run, by payload size. */
  window: Record<number, number>;
  latencyMessages: number;
  latencyRate: number;
  warmupMessages: number;
  directions: Direction[];
  cpuProfileDir?: string;
  /** Diagnostics: more `deno run` flags / environment for hsm-bridge. */
  bridgeDenoFlags?: string[];
  bridgeEnv?: Record<string, string>;
  /** Diagnosis: more configuration lines for the local broker(s). */
  localBrokerExtra?: string[];
}

export interface ThroughputSample extends ThroughputResult {
  /** CPU seconds of the bridging process per message, in microseconds. */
  bridgeCpuUsPerMsg: number;
  /** Share of one CPU the bridging process used during the run (1 = one core busy). */
  bridgeCpuShare: number;
  /** Share of one CPU the load generator (this process) used during the run. */
  loadgenCpuShare: number;
  /** CPU share of every process on the path during the run (bridge, local, cloud, loadgen). */
  cpuShares: Record<string, number>;
}

/** Raw samples: results[direction][size][subject] = one entry per round. */
export interface TransferSamples {
  throughput: Record<Direction, Record<number, Partial<Record<Subject, ThroughputSample[]>>>>;
  latency: Record<number, Partial<Record<Subject, LatencyResult[]>>>;
  peakRssMB: Partial<Record<Subject, number[]>>;
  errors: string[];
}

export function emptySamples(): TransferSamples {
  return { throughput: { out: {}, in: {} }, latency: {}, peakRssMB: {}, errors: [] };
}

function push<T>(table: Partial<Record<Subject, T[]>>, subject: Subject, value: T): void {
  (table[subject] ??= []).push(value);
}

export async function runTransfer(
  env: BenchEnv,
  subjects: Subject[],
  cfg: TransferConfig,
  samples: TransferSamples,
  tmp: string,
  progress: (line: string) => void,
): Promise<void> {
  for (let round = 0; round < cfg.rounds; round++) {
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]);
    for (const subject of order) {
      checkInterrupted();
      progress(`round ${round + 1}/${cfg.rounds}: ${subject}`);
      try {
        await oneRig(env, subject, cfg, samples, `${tmp}/${subject}-${round}`, progress, round);
      } catch (e) {
        const msg = `${subject} round ${round + 1}: ${(e as Error).message}`;
        samples.errors.push(msg.slice(0, 4000));
        progress(`  FAILED: ${msg.slice(0, 2000)}`);
      }
    }
  }
}

async function oneRig(
  env: BenchEnv,
  subject: Subject,
  cfg: TransferConfig,
  samples: TransferSamples,
  dir: string,
  progress: (line: string) => void,
  round: number,
): Promise<void> {
  const rig = await startRig(env, subject, dir, {
    cpuProfileDir: cfg.cpuProfileDir ? `${cfg.cpuProfileDir}/${subject}-${round}` : undefined,
    denoFlags: cfg.bridgeDenoFlags,
    env: cfg.bridgeEnv,
    localBrokerExtra: cfg.localBrokerExtra,
  });
  try {
    for (const direction of cfg.directions) {
      const path = await LoadPath.open(rig[direction], `${subject}-${direction}`);
      try {
        await path.probe();
        await path.throughput({ n: cfg.warmupMessages, size: 100, window: cfg.window[100] });
        for (const size of cfg.sizes) {
          checkInterrupted();
          const t = await measuredThroughput(rig, path, size, cfg);
          samples.throughput[direction][size] ??= {};
          push(samples.throughput[direction][size], subject, t);
          progress(
            `  ${direction} ${sizeName(size)}: ${t.msgsPerSec.toFixed(0)} msg/s` +
              (rig.pid
                ? `, bridge ${t.bridgeCpuUsPerMsg.toFixed(1)} us CPU/msg ` +
                  `(${(t.bridgeCpuShare * 100).toFixed(0)}% CPU)`
                : "") +
              `, CPU ${
                Object.entries(t.cpuShares).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(
                  " ",
                )
              }` +
              (t.received < t.messages ? `, MISSING ${t.messages - t.received}` : "") +
              (t.duplicates ? `, ${t.duplicates} duplicates` : ""),
          );
        }
        if (direction === "out") {
          for (const size of cfg.sizes) {
            checkInterrupted();
            const l = await path.latency({
              n: cfg.latencyMessages,
              size,
              rate: cfg.latencyRate,
            });
            samples.latency[size] ??= {};
            push(samples.latency[size], subject, l);
            progress(
              `  latency ${sizeName(size)} at ${l.ratePerSec.toFixed(0)}/s: ` +
                `p50 ${l.p50Ms.toFixed(2)} ms, p99 ${l.p99Ms.toFixed(2)} ms`,
            );
          }
        }
      } finally {
        await path.close();
      }
    }
    if (rig.pid) {
      const { peak } = await memoryMB(rig.pid);
      push(samples.peakRssMB, subject, peak);
      progress(`  peak RSS ${peak.toFixed(1)} MB`);
    }
  } finally {
    await rig.stop();
  }
}

export async function measuredThroughput(
  rig: Rig,
  path: LoadPath,
  size: number,
  cfg: TransferConfig,
): Promise<ThroughputSample> {
  const pids: Record<string, number> = { ...rig.pids, loadgen: Deno.pid };
  const cpu = async () => {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) out[name] = await cpuSeconds(pid);
    return out;
  };
  const before = await cpu();
  const t = await path.throughput({ n: cfg.messages[size], size, window: cfg.window[size] });
  const after = await cpu();
  const cpuShares: Record<string, number> = {};
  for (const name of Object.keys(pids)) cpuShares[name] = (after[name] - before[name]) / t.seconds;
  const bridgeCpu = (after.bridge ?? NaN) - (before.bridge ?? NaN);
  return {
    ...t,
    bridgeCpuUsPerMsg: (bridgeCpu / t.received) * 1e6,
    bridgeCpuShare: bridgeCpu / t.seconds,
    loadgenCpuShare: cpuShares.loadgen,
    cpuShares,
  };
}

export function sizeName(size: number): string {
  return size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}
