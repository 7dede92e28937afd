/**
 * Section 5: the store-and-forward outbox (issue 14), with the token key (hsm-token).
 *
 * 1. Steady state: local -> cloud throughput with the outbox and without it
 *    (c8y.bridge.outbox.enable), rounds interleaved like sections 1-2, same load generator;
 *    with it, bytes the bridge process wrote to storage per message (/proc/<pid>/io
 *    write_bytes: what reached the block layer, WAL and checkpoints included).
 * 2. Drain: the cloud broker stops, N messages (100,000; 20,000 with --quick) are published
 *    locally as fast as the local broker takes them, until `hsm-bridge outbox status` counts
 *    them all in the outbox (the ingest rate and bytes per message); then the cloud broker
 *    comes back and a subscriber (persistent session) counts them arriving: the drain rate
 *    (first to last message), lost, duplicated, out of order.
 */
import { runCli } from "../tests/helpers/cli.ts";
import { checkInterrupted, onCleanup } from "./cleanup.ts";
import { LoadPath } from "./load.ts";
import { type Endpoint, PublishTemplate, WireClient, withTimeout } from "./mqtt_wire.ts";
import { cpuSeconds } from "./proc.ts";
import { type BenchEnv, type Rig, startRig } from "./rig.ts";
import { type Figure, figure, round } from "./stats.ts";
import { measuredThroughput, sizeName, type TransferConfig } from "./transfer.ts";

export interface OutboxBenchConfig {
  rounds: number;
  transfer: TransferConfig;
  drainMessages: number;
  drainPayloadBytes: number;
}

interface SteadySample {
  msgsPerSec: number;
  bridgeCpuUsPerMsg: number;
  /** Bytes the bridge process wrote to storage per message (outbox on only). */
  diskBytesPerMsg: number;
  missing: number;
}

export interface DrainSample {
  messages: number;
  ingestSeconds: number;
  ingestRate: number;
  ingestDiskBytesPerMsg: number;
  /** The outbox file and WAL once everything was stored. */
  fileBytesFull: number;
  drainSeconds: number;
  drainRate: number;
  drainBridgeCpuUsPerMsg: number;
  drainDiskBytesPerMsg: number;
  fileBytesAfter: number;
  received: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
}

export interface OutboxSamples {
  steady: Record<number, { on: SteadySample[]; off: SteadySample[] }>;
  drain: DrainSample[];
  errors: string[];
}

export interface OutboxResults {
  steady: Record<string, {
    onMsgsPerSec: Figure;
    offMsgsPerSec: Figure;
    /** median on / median off (target >= 0.9). */
    ratio: number;
    onCpuUsPerMsg: Figure;
    offCpuUsPerMsg: Figure;
    diskBytesPerMsg: Figure;
    missing: number;
  }>;
  drain: DrainSample[];
}

/** Bytes the process has written to storage so far (/proc/<pid>/io write_bytes). */
async function writeBytes(pid: number): Promise<number> {
  try {
    const io = await Deno.readTextFile(`/proc/${pid}/io`);
    return Number(/^write_bytes: (\d+)/m.exec(io)?.[1]);
  } catch {
    return NaN;
  }
}

export async function runOutboxBench(
  env: BenchEnv,
  cfg: OutboxBenchConfig,
  tmp: string,
  progress: (line: string) => void,
): Promise<OutboxSamples> {
  const samples: OutboxSamples = { steady: {}, drain: [], errors: [] };
  for (let round = 0; round < cfg.rounds; round++) {
    const modes = round % 2 ? ["off", "on"] as const : ["on", "off"] as const;
    for (const mode of modes) {
      checkInterrupted();
      progress(`round ${round + 1}/${cfg.rounds}: hsm-token, outbox ${mode}`);
      try {
        await steady(env, mode, cfg, samples, `${tmp}/outbox-${mode}-${round}`, progress);
      } catch (e) {
        const msg = `outbox ${mode} round ${round + 1}: ${(e as Error).message}`;
        samples.errors.push(msg.slice(0, 4000));
        progress(`  FAILED: ${msg.slice(0, 2000)}`);
      }
    }
  }
  checkInterrupted();
  progress(`drain after an outage of ${cfg.drainMessages} messages`);
  try {
    samples.drain.push(await drain(env, cfg, `${tmp}/outbox-drain`, progress));
  } catch (e) {
    const msg = `outbox drain: ${(e as Error).message}`;
    samples.errors.push(msg.slice(0, 4000));
    progress(`  FAILED: ${msg.slice(0, 2000)}`);
  }
  return samples;
}

async function steady(
  env: BenchEnv,
  mode: "on" | "off",
  cfg: OutboxBenchConfig,
  samples: OutboxSamples,
  dir: string,
  progress: (line: string) => void,
): Promise<void> {
  const rig = await startRig(env, "hsm-token", dir, { outbox: mode === "on" });
  try {
    const path = await LoadPath.open(rig.out, `outbox-${mode}`);
    try {
      await path.probe();
      const t = cfg.transfer;
      await path.throughput({ n: t.warmupMessages, size: 100, window: t.window[100] });
      for (const size of t.sizes) {
        checkInterrupted();
        const before = await writeBytes(rig.pid!);
        const r = await measuredThroughput(rig, path, size, t);
        const written = (await writeBytes(rig.pid!)) - before;
        const s: SteadySample = {
          msgsPerSec: r.msgsPerSec,
          bridgeCpuUsPerMsg: r.bridgeCpuUsPerMsg,
          diskBytesPerMsg: mode === "on" ? written / r.received : NaN,
          missing: r.messages - r.received,
        };
        const bySize = samples.steady[size] ??= { on: [], off: [] };
        bySize[mode].push(s);
        progress(
          `  ${sizeName(size)}: ${s.msgsPerSec.toFixed(0)} msg/s, bridge ` +
            `${s.bridgeCpuUsPerMsg.toFixed(1)} us CPU/msg` +
            (mode === "on" ? `, ${s.diskBytesPerMsg.toFixed(0)} B written/msg` : "") +
            (s.missing ? `, MISSING ${s.missing}` : ""),
        );
      }
    } finally {
      await path.close();
    }
  } finally {
    await rig.stop();
  }
}

/** `hsm-bridge outbox status --json` of the rig's bridge. */
async function status(rig: Rig): Promise<{ messages: number; fileBytes: number }> {
  const r = await runCli(["outbox", "status", "--json", "--config", rig.configPath!]);
  if (r.code !== 0) throw new Error(`outbox status failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function drain(
  env: BenchEnv,
  cfg: OutboxBenchConfig,
  dir: string,
  progress: (line: string) => void,
): Promise<DrainSample> {
  const n = cfg.drainMessages;
  const rig = await startRig(env, "hsm-token", dir, {
    outbox: true,
    cloudPersistence: true,
    reconnectMaxMs: 1_000,
  });
  const pid = rig.pid!;
  const subEp: Endpoint = rig.out.sub;
  const subId = `bench-drain-sub-${Deno.pid}`;
  let stopCloud = () => Promise.resolve();
  try {
    // The subscriber's session (and subscription) outlives the cloud broker's restart.
    const first = await WireClient.connect(subEp, subId, { clean: false });
    await first.subscribe(rig.out.subTopic, 1);
    await first.close();
    await rig.cloud.stop("SIGTERM");
    const pub = await WireClient.connect(rig.out.pub, `bench-drain-pub-${Deno.pid}`);
    const tpl = new PublishTemplate(rig.out.pubTopic, 1, Math.max(16, cfg.drainPayloadBytes));
    const diskBefore = await writeBytes(pid);
    const t0 = performance.now();
    let acked = 0;
    let wake = () => {};
    pub.onPuback = () => {
      acked++;
      wake();
    };
    for (let seq = 0, id = 0; seq < n; seq++) {
      while (seq - acked >= 500) await new Promise<void>((r) => wake = r);
      id = id % 65535 + 1;
      const { packet, payload } = tpl.build(id);
      new DataView(payload.buffer, payload.byteOffset).setUint32(8, seq, true);
      pub.send(packet);
    }
    while (acked < n) await new Promise<void>((r) => wake = r);
    await pub.close();
    let stored = 0;
    while (stored < n) {
      checkInterrupted();
      await new Promise((r) => setTimeout(r, 500));
      stored = (await status(rig)).messages;
      if (performance.now() - t0 > 600_000) throw new Error(`only ${stored} of ${n} stored`);
    }
    const ingestSeconds = (performance.now() - t0) / 1000;
    const ingestWritten = (await writeBytes(pid)) - diskBefore;
    const full = await status(rig);
    progress(
      `  stored ${n} in ${ingestSeconds.toFixed(1)} s (${(n / ingestSeconds).toFixed(0)} msg/s), ` +
        `${(ingestWritten / n).toFixed(0)} B written/msg, file ${full.fileBytes} B`,
    );
    // The cloud comes back.
    const seen = new Uint8Array(n);
    let received = 0, duplicates = 0, outOfOrder = 0, maxSeq = -1;
    let firstAt = 0, lastAt = 0;
    const cpuBefore = await cpuSeconds(pid);
    const diskBeforeDrain = await writeBytes(pid);
    let done = () => {};
    const all = new Promise<void>((r) => done = r);
    const onMessage = (payload: Uint8Array) => {
      const seq = new DataView(payload.buffer, payload.byteOffset).getUint32(8, true);
      if (seq >= n) return;
      lastAt = performance.now();
      if (!firstAt) firstAt = lastAt;
      if (seen[seq]) return void duplicates++;
      seen[seq] = 1;
      if (seq < maxSeq) outOfOrder++;
      else maxSeq = seq;
      if (++received === n) done();
    };
    const back = performance.now();
    await rig.cloud.restart();
    // The restarted broker is stopped on Ctrl-C too (the rig's entry went with the first stop).
    stopCloud = onCleanup("cloud broker (outbox drain)", () => rig.cloud.stop("SIGKILL"));
    // The handler is in place before the CONNECT: the broker sends what it queued for the
    // session right behind its CONNACK.
    const sub = await connectRetrying(subEp, subId, onMessage);
    try {
      await withTimeout(all, 600_000, `drain: ${received} of ${n} received`);
    } finally {
      await sub.close();
    }
    const cpu = (await cpuSeconds(pid)) - cpuBefore;
    const drainWritten = (await writeBytes(pid)) - diskBeforeDrain;
    await new Promise((r) => setTimeout(r, 1_000)); // the last deletes, and the shrink
    const after = await status(rig);
    const sample: DrainSample = {
      messages: n,
      ingestSeconds: round(ingestSeconds, 2),
      ingestRate: round(n / ingestSeconds, 0),
      ingestDiskBytesPerMsg: round(ingestWritten / n, 0),
      fileBytesFull: full.fileBytes,
      drainSeconds: round((lastAt - back) / 1000, 2),
      drainRate: round(received / ((lastAt - firstAt) / 1000), 0),
      drainBridgeCpuUsPerMsg: round(cpu / received * 1e6, 1),
      drainDiskBytesPerMsg: round(drainWritten / received, 0),
      fileBytesAfter: after.fileBytes,
      received,
      duplicates,
      missing: n - received,
      outOfOrder,
    };
    progress(
      `  drained ${received} in ${sample.drainSeconds} s from the cloud's return ` +
        `(${sample.drainRate} msg/s first to last, bridge ${sample.drainBridgeCpuUsPerMsg} ` +
        `us CPU/msg), ${duplicates} duplicates, ${outOfOrder} out of order; outbox left ` +
        `${after.messages} messages, file ${after.fileBytes} B`,
    );
    return sample;
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\n--- hsm-bridge output ---\n${rig.log().slice(-3000)}`,
    );
  } finally {
    await rig.stop();
    await stopCloud();
  }
}

async function connectRetrying(
  ep: Endpoint,
  id: string,
  onMessage: (payload: Uint8Array) => void,
): Promise<WireClient> {
  for (let i = 0;; i++) {
    try {
      return await WireClient.connect(ep, id, { clean: false, onMessage });
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export function summariseOutbox(s: OutboxSamples): OutboxResults {
  const steady: OutboxResults["steady"] = {};
  for (const [size, { on, off }] of Object.entries(s.steady)) {
    const onRate = figure(on.map((x) => x.msgsPerSec));
    const offRate = figure(off.map((x) => x.msgsPerSec));
    steady[size] = {
      onMsgsPerSec: onRate,
      offMsgsPerSec: offRate,
      ratio: round(onRate.median / offRate.median, 3),
      onCpuUsPerMsg: figure(on.map((x) => x.bridgeCpuUsPerMsg)),
      offCpuUsPerMsg: figure(off.map((x) => x.bridgeCpuUsPerMsg)),
      diskBytesPerMsg: figure(on.map((x) => x.diskBytesPerMsg)),
      missing: [...on, ...off].reduce((n, x) => n + x.missing, 0),
    };
  }
  return { steady, drain: s.drain };
}
