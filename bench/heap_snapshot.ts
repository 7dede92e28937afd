/**
 * Where a V8 heap snapshot's bytes are: by node type (code, strings, arrays, ...), and by module
 * for what belongs to one (a script's source, the functions it defined with their bytecode,
 * feedback and compiled code). Usage, on a snapshot saved by bench/memory_probe.ts --snapshot:
 *
 *   deno run -A bench/heap_snapshot.ts FILE.heapsnapshot [--top 25]
 */

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapSummary {
  totalMB: number;
  byType: { name: string; mb: number; count: number }[];
  byModule: { name: string; mb: number; sourceMB: number; codeMB: number }[];
}

const MB = 1e6;

/** Short name of a module URL: the npm package, src/<area>/<file>, ext:..., node:... */
export function moduleName(url: string): string {
  if (!url) return "(no script)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).replace(
      /^\.deno\/[^/]+\/node_modules\//,
      "",
    );
    const parts = rest.split("/");
    return "npm:" + (parts[0].startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]);
  }
  const src = url.search(/\/(src|bench|tests|cli\.ts)/);
  if (src >= 0) return url.slice(src + 1).split("/").slice(0, 2).join("/");
  const ext = /^(ext:[^/]+|node:[^/]+)/.exec(url);
  return ext ? ext[1] : url.slice(0, 60);
}

export function summariseSnapshot(s: Snapshot, top = 25): HeapSummary {
  const meta = s.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf("type");
  const nName = meta.node_fields.indexOf("name");
  const nSize = meta.node_fields.indexOf("self_size");
  const nEdges = meta.node_fields.indexOf("edge_count");
  const eType = meta.edge_fields.indexOf("type");
  const eName = meta.edge_fields.indexOf("name_or_index");
  const eTo = meta.edge_fields.indexOf("to_node");
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const count = s.nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += s.nodes[i * nf + nEdges] * ef;
    firstEdge[i + 1] = e;
  }
  const name = (i: number) => s.strings[s.nodes[i * nf + nName]];
  const type = (i: number) => types[s.nodes[i * nf + nType]];
  const size = (i: number) => s.nodes[i * nf + nSize];
  const edges = function* (i: number): Generator<[string, number]> {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += ef) {
      const t = edgeTypes[s.edges[e + eType]];
      const label = t === "element" || t === "hidden"
        ? String(s.edges[e + eName])
        : s.strings[s.edges[e + eName]];
      yield [label, s.edges[e + eTo] / nf];
    }
  };

  let total = 0;
  const byType = new Map<string, { mb: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const t = type(i);
    const key = t === "object" || t === "native" || t === "hidden" ? `${t}:${name(i)}` : t;
    const row = byType.get(key) ?? { mb: 0, count: 0 };
    row.mb += size(i) / MB;
    row.count++;
    byType.set(key, row);
    total += size(i);
  }

  // Scripts: their source string; SharedFunctionInfos point at their script, and own their
  // bytecode, feedback metadata, scope info and code.
  const byModule = new Map<string, { mb: number; sourceMB: number; codeMB: number }>();
  const claimed = new Uint8Array(count);
  const add = (mod: string, bytes: number, kind: "source" | "code" | "other") => {
    const row = byModule.get(mod) ?? { mb: 0, sourceMB: 0, codeMB: 0 };
    row.mb += bytes / MB;
    if (kind === "source") row.sourceMB += bytes / MB;
    if (kind === "code") row.codeMB += bytes / MB;
    byModule.set(mod, row);
  };
  const scriptName = new Map<number, string>();
  const SCRIPT = "system / Script / ";
  for (let i = 0; i < count; i++) {
    if (!name(i).startsWith(SCRIPT)) continue;
    const mod = moduleName(name(i).slice(SCRIPT.length));
    scriptName.set(i, mod);
    claimed[i] = 1;
    add(mod, size(i), "other");
    for (const [label, to] of edges(i)) {
      if (label === "source" && !claimed[to]) {
        claimed[to] = 1;
        add(mod, size(to), "source");
      }
    }
  }
  for (let i = 0; i < count; i++) {
    if (!name(i).startsWith("system / SharedFunctionInfo") && type(i) !== "closure") continue;
    if (type(i) === "closure") continue;
    let mod = "";
    for (const [label, to] of edges(i)) {
      if (label === "script" || label === "script_or_debug_info") mod = scriptName.get(to) ?? mod;
    }
    if (!mod) continue;
    const stack = [i];
    while (stack.length) {
      const n = stack.pop()!;
      if (claimed[n]) continue;
      claimed[n] = 1;
      const isCode = type(n) === "code" || /Bytecode|Code/.test(name(n));
      add(mod, size(n), isCode ? "code" : "other");
      if (n !== i && !/^system \//.test(name(n)) && type(n) !== "code" && type(n) !== "array") {
        continue;
      }
      for (const [label, to] of edges(n)) {
        if (label === "script" || label === "script_or_debug_info" || label === "map") continue;
        const t = type(to);
        if ((t === "code" || t === "array" || name(to).startsWith("system /")) && !claimed[to]) {
          if (name(to).startsWith("system / SharedFunctionInfo")) continue;
          if (name(to).startsWith("system / Script")) continue;
          stack.push(to);
        }
      }
    }
  }
  // Closures (JSFunction objects) go to their SharedFunctionInfo's module.
  for (let i = 0; i < count; i++) {
    if (type(i) !== "closure" || claimed[i]) continue;
    for (const [label, to] of edges(i)) {
      if (label !== "shared") continue;
      for (const [l2, s2] of edges(to)) {
        if ((l2 === "script" || l2 === "script_or_debug_info") && scriptName.has(s2)) {
          claimed[i] = 1;
          add(scriptName.get(s2)!, size(i), "other");
        }
      }
    }
  }
  const r2 = (v: number) => Math.round(v * 100) / 100;
  return {
    totalMB: r2(total / MB),
    byType: [...byType].map(([k, v]) => ({ name: k, mb: r2(v.mb), count: v.count }))
      .sort((a, b) => b.mb - a.mb).slice(0, top),
    byModule: [...byModule].map(([k, v]) => ({
      name: k,
      mb: r2(v.mb),
      sourceMB: r2(v.sourceMB),
      codeMB: r2(v.codeMB),
    })).sort((a, b) => b.mb - a.mb).slice(0, top),
  };
}

export function formatSummary(h: HeapSummary): string {
  const out = [`heap snapshot: ${h.totalMB.toFixed(1)} MB in live objects`, "by type:"];
  for (const r of h.byType) {
    out.push(`  ${r.mb.toFixed(2).padStart(7)} MB ${String(r.count).padStart(7)}  ${r.name}`);
  }
  out.push("by module (source + functions with their bytecode, feedback and code):");
  for (const r of h.byModule) {
    out.push(
      `  ${r.mb.toFixed(2).padStart(7)} MB (source ${r.sourceMB.toFixed(2)}, code ` +
        `${r.codeMB.toFixed(2)})  ${r.name}`,
    );
  }
  return out.join("\n");
}

if (import.meta.main) {
  const file = Deno.args.find((a) => !a.startsWith("--"));
  if (!file) {
    console.error("Usage: deno run -A bench/heap_snapshot.ts FILE.heapsnapshot [--top N]");
    Deno.exit(2);
  }
  const at = Deno.args.indexOf("--top");
  const top = at >= 0 ? Number(Deno.args[at + 1]) : 25;
  console.log(formatSummary(summariseSnapshot(JSON.parse(await Deno.readTextFile(file)), top)));
}
