/** The benchmark's stdout: one table per section, then the load generator checks and targets. */
import type { Results } from "./results.ts";
import { ALL_SUBJECTS as SUBJECTS } from "./rig.ts";
import type { Figure } from "./stats.ts";
import { sizeName } from "./transfer.ts";

const LABEL: Record<string, string> = {
  "hsm-token": "hsm-bridge, SoftHSM key",
  "hsm-file": "hsm-bridge, file key",
  "hsm-file-deno-tls": "hsm-bridge, file key, Deno TLS",
  mosquitto: "mosquitto bridge",
  direct: "direct (ceiling)",
};

function cell(v: number | undefined, digits = 0): string {
  return v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
}

/** "median (±spread%)" when there was more than one run. */
function fig(f: Figure | undefined, digits = 0): string {
  if (!f || !Number.isFinite(f.median)) return "-";
  const spread = f.runs.length > 1 ? ` ±${(f.spread * 50).toFixed(0)}%` : "";
  return `${f.median.toFixed(digits)}${spread}`;
}

function ratio(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : `x${v.toFixed(2)}`;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join(
    "\n",
  );
}

export function formatResults(r: Results): string {
  const out: string[] = [];
  const v = r.versions;
  out.push(
    `hsm-bridge benchmark ${r.generatedAt}: ${r.machine.cpus} CPUs, load average ` +
      `${r.machine.loadAverageStart.join(" ")} at start, ${r.machine.loadAverageEnd.join(" ")} ` +
      `at end; deno ${v.deno}, mosquitto ${v.mosquitto}, ${v.openssl}`,
  );
  out.push("Figures: median of the runs; ±N% = half the (max-min)/median spread of the runs.");
  if (!r.hsmBridgeRun.available) out.push(`hsm-bridge: NOT MEASURED (${r.hsmBridgeRun.note})`);
  for (const direction of ["out", "in"] as const) {
    const bySize = r.throughput?.[direction];
    if (!bySize || !Object.keys(bySize).length) continue;
    const sizes = Object.keys(bySize);
    out.push(
      "",
      `== ${direction === "out" ? "1. local -> cloud" : "2. cloud -> local"} throughput, ` +
        `QoS 1 (msg/s; x = ratio to mosquitto's bridge; bridge CPU in us per message)`,
    );
    const rows = SUBJECTS.filter((s) => sizes.some((z) => bySize[z][s])).map((s) => [
      LABEL[s],
      ...sizes.flatMap((z) => {
        const t = bySize[z][s];
        return [fig(t?.msgsPerSec), ratio(t?.ratioToMosquitto), fig(t?.bridgeCpuUsPerMsg, 1)];
      }),
    ]);
    out.push(table(
      ["subject", ...sizes.flatMap((z) => [`${sizeName(+z)} msg/s`, "x", "CPU us"])],
      rows,
    ));
  }
  if (r.latency && Object.keys(r.latency).length) {
    const sizes = Object.keys(r.latency);
    const rate = Object.values(r.latency[sizes[0]])[0]?.ratePerSec;
    out.push(
      "",
      `== 1. local -> cloud latency, paced at ${cell(rate)} msg/s (ms; x = ratio to mosquitto)`,
    );
    const rows = SUBJECTS.filter((s) => sizes.some((z) => r.latency![z][s])).map((s) => [
      LABEL[s],
      ...sizes.flatMap((z) => {
        const l = r.latency![z][s];
        return [fig(l?.p50Ms, 2), fig(l?.p99Ms, 2), ratio(l?.p99RatioToMosquitto)];
      }),
    ]);
    out.push(table(
      ["subject", ...sizes.flatMap((z) => [`${sizeName(+z)} p50`, "p99", "x p99"])],
      rows,
    ));
  }
  if (r.peakRssMB && Object.keys(r.peakRssMB).length) {
    out.push("", "== peak RSS of the bridging process over all of its runs (VmHWM, MB)");
    out.push(table(
      ["subject", "peak RSS"],
      SUBJECTS.filter((s) => r.peakRssMB![s]).map((s) => [LABEL[s], fig(r.peakRssMB![s], 1)]),
    ));
  }
  if (r.handshake) {
    const h = r.handshake;
    out.push("", "== 3. TLS 1.3 handshake with client certificate (ms, TCP connect included)");
    const rows = Object.entries(h.ms).map((
      [m, f],
    ) => [m, cell(f.median, 2), cell(f.p10, 2), cell(f.p90, 2), String(f.runs.length)]);
    out.push(table(["method", "median", "p10", "p90", "samples"], rows));
    for (const [m, d] of Object.entries(h.oursDetail)) {
      out.push(
        `  ${m}: TCP ${cell(d.tcpMs, 2)} + handshake ${cell(d.handshakeMs, 2)} ms, of which ` +
          `server auth ${cell(d.serverAuthMs, 2)} ms, our signature ${cell(d.signatureMs, 2)} ms`,
      );
    }
    out.push(
      `  ours-file / deno = ${ratio(h.oursFileToDeno)}, ours-token / deno = ` +
        `${ratio(h.oursTokenToDeno)}`,
    );
  }
  if (r.startup) {
    const s = r.startup;
    out.push(
      "",
      `== 4. start-up (spawn to health up, ms) and memory (RSS, MB): at health up, idle ` +
        `${s.idleSeconds} s after start, peak during a burst of ${s.burst.messages} x ` +
        `${sizeName(s.burst.size)} QoS 1 local -> cloud (${s.peakMethod}), idle ` +
        `${s.idleSeconds} s after it`,
    );
    out.push(table(
      ["subject", "start-up ms", "at up", "idle", "burst peak", "idle after", "burst msg/s"],
      SUBJECTS.filter((x) => s.idleRssMB[x] || s.upMs[x]).map((x) => [
        LABEL[x],
        fig(s.upMs[x]),
        fig(s.startRssMB[x], 1),
        fig(s.idleRssMB[x], 1),
        fig(s.burstPeakMB[x], 1),
        fig(s.idleAfterBurstRssMB[x], 1),
        fig(s.burstMsgsPerSec[x]),
      ]),
    ));
    out.push("targets (issue 16, token key): idle <= 64, burst peak <= 100, idle after <= 70");
  }
  if (r.outbox) {
    const o = r.outbox;
    out.push(
      "",
      "== 5. store-and-forward outbox, local -> cloud, token key (msg/s; x = on / off; bytes " +
        "the bridge wrote to storage per message)",
    );
    out.push(table(
      ["payload", "outbox on", "outbox off", "x", "CPU us on", "CPU us off", "B written"],
      Object.entries(o.steady).map(([size, x]) => [
        sizeName(+size),
        fig(x.onMsgsPerSec),
        fig(x.offMsgsPerSec),
        ratio(x.ratio),
        fig(x.onCpuUsPerMsg, 1),
        fig(x.offCpuUsPerMsg, 1),
        fig(x.diskBytesPerMsg),
      ]),
    ));
    for (const d of o.drain) {
      out.push(
        `  outage of ${d.messages} x 100 B: stored at ${d.ingestRate} msg/s ` +
          `(${d.ingestDiskBytesPerMsg} B written/msg, file ${(d.fileBytesFull / 1e6).toFixed(1)} ` +
          `MB); drained at ${d.drainRate} msg/s (${d.drainSeconds} s from the cloud's return, ` +
          `bridge ${d.drainBridgeCpuUsPerMsg} us CPU/msg, ${d.drainDiskBytesPerMsg} B ` +
          `written/msg); ${d.missing} lost, ${d.duplicates} duplicates, ${d.outOfOrder} out of ` +
          `order; file ${(d.fileBytesAfter / 1e6).toFixed(1)} MB after`,
      );
    }
  }
  if (r.outage?.length) {
    out.push("", "== outage scenario (issue 14), SoftHSM key, local mosquitto with its defaults");
    out.push(...r.outage.map((o) => `  ${o.summary}`));
  }
  out.push("", "== load generator checks");
  out.push(
    ...(r.loadGeneratorChecks.length ? r.loadGeneratorChecks.map((w) => `WARNING: ${w}`) : ["ok"]),
  );
  out.push("", "== targets (issues 7, 14 and 16)");
  out.push(table(
    ["target", "value", "limit", "status"],
    r.targets.map((
      t,
    ) => [t.name, cell(t.value, 2), t.limit, t.status + (t.note ? ` (${t.note})` : "")]),
  ));
  if (r.errors.length) {
    out.push("", `== ${r.errors.length} error(s)`, ...r.errors.map((e) => `- ${e.split("\n")[0]}`));
  }
  return out.join("\n");
}
