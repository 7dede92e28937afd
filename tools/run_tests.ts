/**
 * `deno task test [deno test args...]`: format check, lint, type check, the import rules
 * (tools/check_imports.ts: no cycle, doors kept), then every test.
 * The last line printed is `N passed, N failed`, taken from deno test's own result line.
 * The exit code is non-zero when any step failed.
 */

const deno = Deno.execPath();
const root = new URL("..", import.meta.url).pathname;

async function step(name: string, args: string[]): Promise<boolean> {
  console.log(`== ${name}: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(deno, { args, cwd: root }).output();
  if (code !== 0) console.log(`== ${name} FAILED (exit ${code})`);
  return code === 0;
}

/** Runs deno test, echoing its output while keeping the last result line. */
async function runTests(extra: string[]): Promise<{ ok: boolean; summary: string }> {
  const args = ["test", "--allow-all", "--no-check", ...extra];
  console.log(`== tests: deno ${args.join(" ")}`);
  const child = new Deno.Command(deno, {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  let tail = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + dec.decode(chunk, { stream: true })).slice(-4096);
  }
  const { code } = await child.status;
  // deno test ends with e.g. "ok | 12 passed (3 steps) | 0 failed (1s)".
  const m = [...tail.matchAll(/(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/g)].pop();
  if (!m) return { ok: false, summary: "0 passed, 1 failed" };
  if (code !== 0 && m[2] === "0") {
    console.log(
      `== deno test exited with code ${code} after reporting no failure (a crash at exit?)`,
    );
  }
  return { ok: code === 0, summary: `${m[1]} passed, ${m[2]} failed` };
}

const fmt = await step("format", ["fmt", "--check"]);
const lint = await step("lint", ["lint"]);
const check = await step("type check", ["check", "."]);
const imports = await step("imports", ["run", "--allow-read", "tools/check_imports.ts"]);
const tests = await runTests(Deno.args);
const problems = [
  !fmt && "format",
  !lint && "lint",
  !check && "type check",
  !imports && "imports",
].filter(Boolean);
if (problems.length) console.log(`== also failed: ${problems.join(", ")}`);
console.log(tests.summary);
Deno.exit(tests.ok && problems.length === 0 ? 0 : 1);
