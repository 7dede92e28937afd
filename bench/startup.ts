/**
 * Section 4: start-up and memory (issue 16). For each subject, `rounds` bridges are started one
 * after another (each with its own brokers); start-up = from spawning `hsm-bridge run` to the
 * retained health message `{"status":"up"}` on the local broker. Then, per bridge:
 *
 *   1. RSS just after start (at health up);
 *   2. RSS after `idleSeconds` with no traffic ("idle after start");
 *   3. a burst of `burst.messages` QoS 1 messages local -> cloud, closed loop as in the
 *      throughput runs; peak RSS during it: VmHWM, reset to the current RSS just before the
 *      burst (`/proc/PID/clear_refs` 5), so the start-up peak does not count;
 *   4. RSS `idleSeconds` after the burst ("idle after the burst").
 *
 * Idle bridges use no CPU, so the idle periods of all bridges overlap (bursts run one at a time)
 * and the section takes about two idle periods plus the bursts. mosquitto's bridge is measured
 * for reference.
 */
import { checkInterrupted } from "./cleanup.ts";
import { LoadPath, sleep } from "./load.ts";
import { memoryMB, resetPeakRss } from "./proc.ts";
import { type BenchEnv, type Rig, type RigOptions, startRig, type Subject } from "./rig.ts";

export interface BurstConfig {
  messages: number;
  size: number;
  window: number;
}

export interface StartupSamples {
  /** Milliseconds from spawn to health up. */
  upMs: Partial<Record<Subject, number[]>>;
  /** VmRSS at health up. */
  startRssMB: Partial<Record<Subject, number[]>>;
  /** VmRSS `idleSeconds` after health up. */
  idleRssMB: Partial<Record<Subject, number[]>>;
  /** VmHWM at the idle reading: the start-up peak. */
  startPeakMB: Partial<Record<Subject, number[]>>;
  /** VmHWM during the burst (reset just before it). */
  burstPeakMB: Partial<Record<Subject, number[]>>;
  /** VmRSS `idleSeconds` after the burst's last message. */
  idleAfterBurstRssMB: Partial<Record<Subject, number[]>>;
  burstMsgsPerSec: Partial<Record<Subject, number[]>>;
  idleSeconds: number;
  burst: BurstConfig;
  /** How the burst peak was read: "VmHWM" (reset before the burst) or "sampled" (VmRSS). */
  peakMethod: string;
  errors: string[];
}

function push(table: Partial<Record<Subject, number[]>>, subject: Subject, v: number): void {
  (table[subject] ??= []).push(v);
}

export async function runStartup(
  env: BenchEnv,
  subjects: Subject[],
  rounds: number,
  idleSeconds: number,
  burst: BurstConfig,
  tmp: string,
  progress: (line: string) => void,
  rigOptions: RigOptions = {},
): Promise<StartupSamples> {
  const out: StartupSamples = {
    upMs: {},
    startRssMB: {},
    idleRssMB: {},
    startPeakMB: {},
    burstPeakMB: {},
    idleAfterBurstRssMB: {},
    burstMsgsPerSec: {},
    idleSeconds,
    burst,
    peakMethod: "VmHWM",
    errors: [],
  };
  const running: { rig: Rig; upAt: number; burstEnd?: number }[] = [];
  const fail = (rig: Rig, what: string, e: unknown) => {
    const msg = `${rig.subject} ${what}: ${(e as Error).message}`;
    out.errors.push(msg.slice(0, 4000));
    progress(`  FAILED: ${msg.slice(0, 2000)}`);
  };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const subject of subjects.filter((s) => s !== "direct")) {
        checkInterrupted();
        try {
          const rig = await startRig(env, subject, `${tmp}/startup-${subject}-${r}`, rigOptions);
          running.push({ rig, upAt: performance.now() });
          const mem = await memoryMB(rig.pid!);
          push(out.startRssMB, subject, mem.rss);
          if (rig.startedMs !== undefined) push(out.upMs, subject, rig.startedMs);
          progress(
            `  ${subject} round ${r + 1}: health up after ${
              rig.startedMs?.toFixed(0) ?? "-"
            } ms, ` +
              `RSS ${mem.rss.toFixed(1)} MB`,
          );
        } catch (e) {
          out.errors.push(`${subject} round ${r + 1}: ${(e as Error).message}`.slice(0, 4000));
          progress(`  ${subject} round ${r + 1} FAILED: ${(e as Error).message.slice(0, 2000)}`);
        }
      }
    }
    for (const entry of running) {
      checkInterrupted();
      const { rig, upAt } = entry;
      const wait = upAt + idleSeconds * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const idle = await memoryMB(rig.pid!);
      push(out.idleRssMB, rig.subject, idle.rss);
      push(out.startPeakMB, rig.subject, idle.peak);
      try {
        const b = await runBurst(rig, burst);
        if (b.method !== "VmHWM") out.peakMethod = b.method;
        push(out.burstPeakMB, rig.subject, b.peakMB);
        push(out.burstMsgsPerSec, rig.subject, b.msgsPerSec);
        entry.burstEnd = performance.now();
        progress(
          `  ${rig.subject}: idle RSS ${idle.rss.toFixed(1)} MB after ${idleSeconds} s ` +
            `(start-up peak ${idle.peak.toFixed(1)} MB); burst of ${burst.messages} at ` +
            `${b.msgsPerSec.toFixed(0)} msg/s: peak ${b.peakMB.toFixed(1)} MB`,
        );
      } catch (e) {
        fail(rig, "burst", e);
      }
    }
    for (const { rig, burstEnd } of running) {
      checkInterrupted();
      if (burstEnd === undefined) continue;
      const wait = burstEnd + idleSeconds * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const after = await memoryMB(rig.pid!);
      push(out.idleAfterBurstRssMB, rig.subject, after.rss);
      progress(
        `  ${rig.subject}: idle RSS ${after.rss.toFixed(1)} MB ${idleSeconds} s after the burst`,
      );
    }
  } finally {
    for (const { rig } of running) await rig.stop().catch(() => {});
  }
  return out;
}

/**
 * One burst local -> cloud; the peak RSS during it. VmHWM is reset first; where that is not
 * allowed, VmRSS is sampled every 10 ms instead (which can miss a short spike).
 */
async function runBurst(
  rig: Rig,
  burst: BurstConfig,
): Promise<{ peakMB: number; msgsPerSec: number; method: string }> {
  const path = await LoadPath.open(rig.out, `${rig.subject}-burst`);
  try {
    await path.probe();
    const reset = await resetPeakRss(rig.pid!);
    let sampled = 0;
    let sampling = !reset;
    const sampler = (async () => {
      while (sampling) {
        sampled = Math.max(sampled, (await memoryMB(rig.pid!)).rss);
        await sleep(10);
      }
    })();
    let t;
    try {
      t = await path.throughput({ n: burst.messages, size: burst.size, window: burst.window });
    } finally {
      sampling = false;
      await sampler;
    }
    if (t.received < t.messages) {
      throw new Error(`${t.messages - t.received} of ${t.messages} burst messages missing`);
    }
    const { peak } = await memoryMB(rig.pid!);
    return reset
      ? { peakMB: peak, msgsPerSec: t.msgsPerSec, method: "VmHWM" }
      : { peakMB: sampled, msgsPerSec: t.msgsPerSec, method: "sampled" };
  } finally {
    await path.close();
  }
}
