/**
 * `deno run --allow-read tools/check_imports.ts`: the import rules of docs/ARCHITECTURE.md,
 * checked on the product code (src/, cli.ts, mod.ts; tests excluded). Run by `deno task test`.
 *
 * 1. No import cycles between files (strongly connected components of the import graph).
 * 2. Cross-folder imports go through the folder's door: a file imports another folder's
 *    `mod.ts` (or `testing.ts` / `testing/mod.ts`, the test doors; `main.ts` for the CLI's
 *    entry), never its other files; a file directly in src/ is a module of its own;
 *    importing a file of an enclosing folder (record/record.ts -> ../errors.ts) stays inside the
 *    module and is allowed.
 *
 * Prints one line per problem and exits 1 when there is any.
 */

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']/g;
const DYNAMIC = /import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function isTest(path: string): boolean {
  return /_test\.ts$/.test(path) || path.includes("/testing/") || /\/testing\.ts$/.test(path);
}

async function productFiles(root: string): Promise<string[]> {
  const out = ["cli.ts", "mod.ts"].filter((f) => exists(`${root}/${f}`));
  async function walk(dir: string) {
    for await (const e of Deno.readDir(`${root}/${dir}`)) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(rel);
      else if (e.name.endsWith(".ts") && !isTest(rel)) out.push(rel);
    }
  }
  await walk("src");
  return out.sort();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function resolve(from: string, spec: string): string {
  const parts = dirOf(from).split("/").filter(Boolean);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** Tarjan's strongly connected components; returns those with more than one file (or a self-loop). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** The problems found in the checkout at `root` (default: this repository), one line each. */
export async function checkImports(root = REPO): Promise<string[]> {
  const files = await productFiles(root);
  const graph = new Map<string, string[]>();
  const problems: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(`${root}/${file}`);
    const targets: string[] = [];
    for (const re of [IMPORT, DYNAMIC]) {
      for (const m of text.matchAll(re)) targets.push(resolve(file, m[1]));
    }
    graph.set(file, targets.filter((t) => !isTest(t)));
    for (const target of targets) {
      const from = dirOf(file);
      const to = dirOf(target);
      const enclosing = from === to || from.startsWith(`${to}/`) || to === "";
      // A folder's doors: mod.ts, its test door, the CLI's entry (main.ts); a file directly in
      // src/ (log.ts, secret.ts) is a module of its own.
      const door = /(^|\/)(mod|testing|main)\.ts$/.test(target) || to === "src";
      if (!enclosing && !door) {
        problems.push(`${file} imports "${target}" past its folder's door: import ${to}/mod.ts`);
      }
    }
  }
  for (const scc of cycles(graph)) problems.push(`import cycle: ${scc.join(" <-> ")}`);
  return problems;
}

if (import.meta.main) {
  const problems = await checkImports();
  for (const p of problems) console.log(p);
  console.log(
    problems.length ? `${problems.length} import problem(s)` : "imports: no cycle, doors kept",
  );
  Deno.exit(problems.length ? 1 : 0);
}
