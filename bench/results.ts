/**
 * Turns raw samples into figures (median of the runs, with min/max/spread), ratios to
 * mosquitto's bridge, load generator checks and the targets. The result is written to
 * bench/results.json as is and printed by table.ts.
 */
import type { HandshakeMethod, HandshakeSamples, OursDetail } from "./handshake.ts";
import type { OutageSample } from "./outage.ts";
import type { OutboxResults } from "./outbox.ts";
import type { Subject } from "./rig.ts";
import type { StartupSamples } from "./startup.ts";
import { type Figure, figure, median, percentile, round } from "./stats.ts";
import type { Direction, TransferConfig, TransferSamples } from "./transfer.ts";

export interface SubjectThroughput {
  msgsPerSec: Figure;
  /** median msg/s / mosquitto bridge median msg/s (higher is better). */
  ratioToMosquitto: number;
  bridgeCpuUsPerMsg: Figure;
  bridgeCpuShare: Figure;
  loadgenCpuShare: Figure;
  /** Median CPU share per process on the path (1 = one core busy). */
  cpuShares: Record<string, number>;
  loadedP50Ms: Figure;
  loadedP99Ms: Figure;
  missing: number;
  duplicates: number;
}

export interface SubjectLatency {
  p50Ms: Figure;
  p99Ms: Figure;
  maxMs: Figure;
  /** p50 / mosquitto bridge p50 and p99 / mosquitto p99 (lower is better). */
  p50RatioToMosquitto: number;
  p99RatioToMosquitto: number;
  ratePerSec: number;
}

export type TargetStatus = "PASS" | "MISS" | "n/a";

export interface Target {
  name: string;
  value: number;
  limit: string;
  status: TargetStatus;
  note?: string;
}

export interface Results {
  generatedAt: string;
  durationSeconds: number;
  machine: { cpus: number; loadAverageStart: number[]; loadAverageEnd: number[]; kernel: string };
  versions: Record<string, string>;
  options: Record<string, unknown>;
  hsmBridgeRun: { available: boolean; note: string };
  transferConfig?: TransferConfig;
  throughput?: Record<Direction, Record<string, Partial<Record<Subject, SubjectThroughput>>>>;
  latency?: Record<string, Partial<Record<Subject, SubjectLatency>>>;
  peakRssMB?: Partial<Record<Subject, Figure>>;
  handshake?: {
    /** Per method: median and spread over the samples (not over runs). */
    ms: Partial<Record<HandshakeMethod, Figure & { p10: number; p90: number }>>;
    oursDetail: HandshakeSamples["oursDetail"];
    oursFileToDeno: number;
    oursTokenToDeno: number;
  };
  startup?: {
    upMs: Partial<Record<Subject, Figure>>;
    startRssMB: Partial<Record<Subject, Figure>>;
    idleRssMB: Partial<Record<Subject, Figure>>;
    startPeakMB: Partial<Record<Subject, Figure>>;
    burstPeakMB: Partial<Record<Subject, Figure>>;
    idleAfterBurstRssMB: Partial<Record<Subject, Figure>>;
    burstMsgsPerSec: Partial<Record<Subject, Figure>>;
    idleSeconds: number;
    burst: StartupSamples["burst"];
    peakMethod: string;
  };
  /** Section 5: the outbox, on vs off, and the drain after an outage. */
  outbox?: OutboxResults;
  /** Issue 14's outage scenario (--only outage). */
  outage?: OutageSample[];
  loadGeneratorChecks: string[];
  targets: Target[];
  errors: string[];
}

type PerSubject<T> = Partial<Record<Subject, T[]>>;

function mapSubjects<T, R>(table: PerSubject<T>, fn: (v: T[], s: Subject) => R) {
  const out: Partial<Record<Subject, R>> = {};
  for (const [s, v] of Object.entries(table) as [Subject, T[]][]) {
    if (v?.length) out[s] = fn(v, s);
  }
  return out;
}

const figureOf = <T>(rows: T[], key: keyof T) => figure(rows.map((r) => Number(r[key])));

export function summariseTransfer(
  samples: TransferSamples,
): Pick<Results, "throughput" | "latency" | "peakRssMB"> {
  const throughput = { out: {}, in: {} } as NonNullable<Results["throughput"]>;
  for (const direction of ["out", "in"] as Direction[]) {
    for (const [size, bySubject] of Object.entries(samples.throughput[direction])) {
      const mosq = figureOf(bySubject.mosquitto ?? [], "msgsPerSec").median;
      throughput[direction][size] = mapSubjects(bySubject, (rows) => {
        const f = figureOf(rows, "msgsPerSec");
        return {
          msgsPerSec: f,
          ratioToMosquitto: round(f.median / mosq, 3),
          bridgeCpuUsPerMsg: figureOf(rows, "bridgeCpuUsPerMsg"),
          bridgeCpuShare: figureOf(rows, "bridgeCpuShare"),
          loadgenCpuShare: figureOf(rows, "loadgenCpuShare"),
          cpuShares: Object.fromEntries(
            Object.keys(rows[0].cpuShares).map((k) => [
              k,
              round(median(rows.map((r) => r.cpuShares[k])), 3),
            ]),
          ),
          loadedP50Ms: figureOf(rows, "loadedP50Ms"),
          loadedP99Ms: figureOf(rows, "loadedP99Ms"),
          missing: rows.reduce((a, r) => a + r.messages - r.received, 0),
          duplicates: rows.reduce((a, r) => a + r.duplicates, 0),
        };
      });
    }
  }
  const latency: NonNullable<Results["latency"]> = {};
  for (const [size, bySubject] of Object.entries(samples.latency)) {
    const m = bySubject.mosquitto ?? [];
    const mosqP50 = figureOf(m, "p50Ms").median;
    const mosqP99 = figureOf(m, "p99Ms").median;
    latency[size] = mapSubjects(bySubject, (rows) => {
      const p50 = figureOf(rows, "p50Ms");
      const p99 = figureOf(rows, "p99Ms");
      return {
        p50Ms: p50,
        p99Ms: p99,
        maxMs: figureOf(rows, "maxMs"),
        p50RatioToMosquitto: round(p50.median / mosqP50, 3),
        p99RatioToMosquitto: round(p99.median / mosqP99, 3),
        ratePerSec: round(figureOf(rows, "ratePerSec").median, 1),
      };
    });
  }
  return { throughput, latency, peakRssMB: mapSubjects(samples.peakRssMB, (v) => figure(v)) };
}

export function summariseHandshake(h: HandshakeSamples): NonNullable<Results["handshake"]> {
  const ms: NonNullable<Results["handshake"]>["ms"] = {};
  for (const [k, v] of Object.entries(h.ms)) {
    if (v?.length) {
      ms[k as HandshakeMethod] = { ...figure(v), p10: percentile(v, 10), p90: percentile(v, 90) };
    }
  }
  const deno = ms.deno?.median ?? NaN;
  return {
    ms,
    oursDetail: h.oursDetail as Partial<Record<"ours-token" | "ours-file", OursDetail>>,
    oursFileToDeno: round((ms["ours-file"]?.median ?? NaN) / deno, 3),
    oursTokenToDeno: round((ms["ours-token"]?.median ?? NaN) / deno, 3),
  };
}

export function summariseStartup(s: StartupSamples): NonNullable<Results["startup"]> {
  const f = (t: Partial<Record<Subject, number[]>>) => mapSubjects(t, (v) => figure(v));
  return {
    upMs: f(s.upMs),
    startRssMB: f(s.startRssMB),
    idleRssMB: f(s.idleRssMB),
    startPeakMB: f(s.startPeakMB),
    burstPeakMB: f(s.burstPeakMB),
    idleAfterBurstRssMB: f(s.idleAfterBurstRssMB),
    burstMsgsPerSec: f(s.burstMsgsPerSec),
    idleSeconds: s.idleSeconds,
    burst: s.burst,
    peakMethod: s.peakMethod,
  };
}

/** The load generator must not be what limits a run (issue 7). */
export function loadGeneratorChecks(r: Results): string[] {
  const warnings: string[] = [];
  for (const [direction, bySize] of Object.entries(r.throughput ?? {})) {
    for (const [size, bySubject] of Object.entries(bySize)) {
      const direct = bySubject.direct?.msgsPerSec.median;
      let best = 0;
      let bestName = "";
      for (const [s, t] of Object.entries(bySubject)) {
        if (s !== "direct" && t.msgsPerSec.median > best) {
          [best, bestName] = [t.msgsPerSec.median, s];
        }
      }
      if (direct !== undefined && best > 0 && direct < 2 * best) {
        warnings.push(
          `${direction} ${size} B: direct ${direct.toFixed(0)} msg/s is less than 2x the best ` +
            `bridge (${bestName} ${best.toFixed(0)} msg/s): the ceiling is low on this machine, ` +
            `so bridge figures near it may be limited by the load generator or the brokers`,
        );
      }
      for (const [s, t] of Object.entries(bySubject)) {
        if (s !== "direct" && t.loadgenCpuShare.median > 0.85) {
          warnings.push(
            `${direction} ${size} B ${s}: the load generator used ` +
              `${(t.loadgenCpuShare.median * 100).toFixed(0)}% of a CPU: it may be the bottleneck`,
          );
        }
      }
    }
  }
  return warnings;
}

function target(
  name: string,
  value: number,
  limit: string,
  ok: (v: number) => boolean,
  note?: string,
): Target {
  const status: TargetStatus = Number.isFinite(value) ? (ok(value) ? "PASS" : "MISS") : "n/a";
  return { name, value: round(value, 3), limit, status, ...(note ? { note } : {}) };
}

/** The targets of issues 7 and 16, read from the figures. */
export function targets(r: Results): Target[] {
  const na = r.hsmBridgeRun.available ? undefined : "hsm-bridge run not available";
  const out: Target[] = [];
  for (const direction of ["out", "in"] as Direction[]) {
    for (const [size, bySubject] of Object.entries(r.throughput?.[direction] ?? {})) {
      out.push(target(
        `throughput ${
          direction === "out" ? "local->cloud" : "cloud->local"
        } ${size} B, token key / mosquitto`,
        bySubject["hsm-token"]?.ratioToMosquitto ?? NaN,
        ">= 1.0",
        (v) => v >= 1.0,
        na,
      ));
    }
  }
  for (const [size, bySubject] of Object.entries(r.latency ?? {})) {
    out.push(target(
      `p99 latency ${size} B, token key / mosquitto`,
      bySubject["hsm-token"]?.p99RatioToMosquitto ?? NaN,
      "<= 1.5",
      (v) => v <= 1.5,
      na,
    ));
  }
  for (const s of ["hsm-token", "hsm-file"] as const) {
    if (r.peakRssMB) {
      out.push(
        target(
          `peak RSS under load, ${s} (MB)`,
          r.peakRssMB[s]?.median ?? NaN,
          "<= 100",
          (v) => v <= 100,
          na,
        ),
      );
    }
  }
  if (r.startup) {
    // Issue 16: a small gateway's budget, token key (the file key for reference).
    const s = r.startup;
    const burst = `${s.burst.messages} x ${s.burst.size} B`;
    for (const k of ["hsm-token", "hsm-file"] as const) {
      out.push(
        target(
          `idle RSS ${s.idleSeconds} s after start, ${k} (MB)`,
          s.idleRssMB[k]?.median ?? NaN,
          "<= 64",
          (v) => v <= 64,
          na,
        ),
        target(
          `peak RSS during the burst (${burst}), ${k} (MB)`,
          s.burstPeakMB[k]?.median ?? NaN,
          "<= 100",
          (v) => v <= 100,
          na,
        ),
        target(
          `idle RSS ${s.idleSeconds} s after the burst, ${k} (MB)`,
          s.idleAfterBurstRssMB[k]?.median ?? NaN,
          "<= 70",
          (v) => v <= 70,
          na,
        ),
      );
    }
  }
  for (const [size, o] of Object.entries(r.outbox?.steady ?? {})) {
    out.push(target(
      `throughput local->cloud ${size} B, token key, outbox on / off`,
      o.ratio,
      ">= 0.9",
      (v) => v >= 0.9,
    ));
  }
  for (const o of r.outage ?? []) {
    out.push(target(
      `${o.scenario}: ${o.messages} messages, lost or out of order`,
      o.missing + o.outOfOrder,
      "= 0",
      (v) => v === 0,
    ));
  }
  if (r.handshake) {
    out.push(
      target(
        "handshake, our client file key / Deno connectTls",
        r.handshake.oursFileToDeno,
        "<= 2.0",
        (v) => v <= 2.0,
      ),
    );
  }
  return out;
}
