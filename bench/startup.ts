/**
 * Section 4: start-up and idle memory. For each key kind, `rounds` bridges are started one
 * after another (each with its own brokers): start-up = from spawning `hsm-bridge run` to the
 * retained health message `{"status":"up"}` on the local broker. Each bridge then idles (no
 * traffic) and its VmRSS is read `idleSeconds` after its health went up. Idle bridges use no
 * CPU, so overlapping the idle periods keeps the section short without disturbing the
 * start-up measurements. mosquitto's bridge is measured for reference (idle RSS only).
 */
import { checkInterrupted } from "./cleanup.ts";
import { sleep } from "./load.ts";
import { memoryMB } from "./proc.ts";
import { type BenchEnv, type Rig, type RigOptions, startRig, type Subject } from "./rig.ts";

export interface StartupSamples {
  /** Milliseconds from spawn to health up. */
  upMs: Partial<Record<Subject, number[]>>;
  idleRssMB: Partial<Record<Subject, number[]>>;
  /** VmHWM at the idle reading: the start-up peak. */
  startPeakMB: Partial<Record<Subject, number[]>>;
  idleSeconds: number;
  errors: string[];
}

export async function runStartup(
  env: BenchEnv,
  subjects: Subject[],
  rounds: number,
  idleSeconds: number,
  tmp: string,
  progress: (line: string) => void,
  rigOptions: RigOptions = {},
): Promise<StartupSamples> {
  const out: StartupSamples = {
    upMs: {},
    idleRssMB: {},
    startPeakMB: {},
    idleSeconds,
    errors: [],
  };
  const running: { rig: Rig; upAt: number }[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const subject of subjects.filter((s) => s !== "direct")) {
        checkInterrupted();
        try {
          const rig = await startRig(env, subject, `${tmp}/startup-${subject}-${r}`, rigOptions);
          running.push({ rig, upAt: performance.now() });
          if (rig.startedMs !== undefined) {
            (out.upMs[subject] ??= []).push(rig.startedMs);
            progress(`  ${subject} round ${r + 1}: health up after ${rig.startedMs.toFixed(0)} ms`);
          }
        } catch (e) {
          out.errors.push(`${subject} round ${r + 1}: ${(e as Error).message}`.slice(0, 4000));
          progress(`  ${subject} round ${r + 1} FAILED: ${(e as Error).message.slice(0, 2000)}`);
        }
      }
    }
    for (const { rig, upAt } of running) {
      checkInterrupted();
      const wait = upAt + idleSeconds * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const mem = await memoryMB(rig.pid!);
      (out.idleRssMB[rig.subject] ??= []).push(mem.rss);
      (out.startPeakMB[rig.subject] ??= []).push(mem.peak);
      progress(
        `  ${rig.subject}: idle RSS ${mem.rss.toFixed(1)} MB after ${idleSeconds} s ` +
          `(peak so far ${mem.peak.toFixed(1)} MB)`,
      );
    }
  } finally {
    for (const { rig } of running) await rig.stop().catch(() => {});
  }
  return out;
}
