/**
 * Summarises a V8 CPU profile (`deno run --cpu-prof`): where the samples fell, by function
 * (self and inclusive time) and by file. Usage:
 *
 *   deno run -A bench/profile.ts <file.cpuprofile | dir> [--top 25]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  byFunction: ProfileRow[];
  byFile: ProfileRow[];
}

function shortUrl(url: string): string {
  if (!url) return "(native)";
  const nm = url.indexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length).replace(/^\.deno\//, "");
  const src = url.search(/\/(src|bench|tests)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, "");
}

function frameName(f: CallFrame): string {
  return `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
}

export function summarise(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from the sample timeline (more exact than hitCount x interval).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const next = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + next);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fnSelf = new Map<string, number>();
  const fnTotal = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const fileTotal = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    total += us;
    const fn = node.callFrame.functionName;
    if (fn === "(idle)" || fn === "(program)" || fn === "(garbage collector)") {
      if (fn === "(idle)") idle += us;
    }
    add(fnSelf, frameName(node.callFrame), us);
    add(fileSelf, shortUrl(node.callFrame.url) || fn, us);
    // Inclusive: every distinct function / file on the stack gets the sample once.
    const seenFn = new Set<string>();
    const seenFile = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const name = frameName(f);
      if (!seenFn.has(name)) {
        seenFn.add(name);
        add(fnTotal, name, us);
      }
      const file = shortUrl(f.url);
      if (!seenFile.has(file)) {
        seenFile.add(file);
        add(fileTotal, file, us);
      }
    }
  }
  const busy = total - idle;
  const rows = (self: Map<string, number>, inclusive: Map<string, number>) =>
    [...new Set([...self.keys(), ...inclusive.keys()])].map((name) => ({
      name,
      selfMs: (self.get(name) ?? 0) / 1000,
      totalMs: (inclusive.get(name) ?? 0) / 1000,
      selfPct: (100 * (self.get(name) ?? 0)) / busy,
      totalPct: (100 * (inclusive.get(name) ?? 0)) / busy,
    }));
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    byFunction: rows(fnSelf, fnTotal).filter((r) => r.name !== "(idle) (native):1"),
    byFile: rows(fileSelf, fileTotal),
  };
}

function add(map: Map<string, number>, key: string, v: number): void {
  map.set(key, (map.get(key) ?? 0) + v);
}

export function formatSummary(s: ProfileSummary, top = 25): string {
  const lines = [
    `profile: ${s.totalMs.toFixed(0)} ms sampled, ${(s.totalMs - s.idleMs).toFixed(0)} ms busy ` +
    `(percentages are of busy time)`,
    "",
    "top functions by self time:",
  ];
  const fmt = (r: ProfileRow) =>
    `  ${r.selfPct.toFixed(1).padStart(5)}% self ${r.totalPct.toFixed(1).padStart(5)}% total  ${
      r.name.slice(0, 110)
    }`;
  for (const r of [...s.byFunction].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    lines.push(fmt(r));
  }
  lines.push("", "top functions by inclusive time:");
  for (const r of [...s.byFunction].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
    lines.push(fmt(r));
  }
  lines.push("", "by file (self):");
  for (const r of [...s.byFile].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    lines.push(fmt(r));
  }
  return lines.join("\n");
}

export async function profilesIn(path: string): Promise<string[]> {
  const stat = await Deno.stat(path);
  if (stat.isFile) return [path];
  const out: string[] = [];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && e.name.endsWith(".cpuprofile")) out.push(`${path}/${e.name}`);
    if (e.isDirectory) out.push(...await profilesIn(`${path}/${e.name}`));
  }
  return out.sort();
}

if (import.meta.main) {
  const [target, ...rest] = Deno.args;
  if (!target) {
    console.error("Usage: deno run -A bench/profile.ts <file.cpuprofile | dir> [--top N]");
    Deno.exit(2);
  }
  const topAt = rest.indexOf("--top");
  const top = topAt >= 0 ? Number(rest[topAt + 1]) : 25;
  for (const file of await profilesIn(target)) {
    console.log(`== ${file}`);
    console.log(formatSummary(summarise(JSON.parse(await Deno.readTextFile(file))), top));
  }
}
