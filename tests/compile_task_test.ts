/**
 * `deno task compile` cannot finish here (it downloads Deno's runtime, denort, from a host we
 * cannot reach), so no test compiles. These check what can be checked: the task bakes in the
 * same permission set the CLI tests run cli.ts with, and deno accepts the whole command and
 * builds the program up to the point where it needs denort.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { permissionFlags } from "./helpers/cli.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("the compile task bakes in the permission set the CLI tests use", () => {
  const task = (denoJson.tasks as Record<string, { command: string }>).compile.command;
  assert.match(task, /^deno compile .*-P=hsm-bridge .*--output dist\/hsm-bridge cli\.ts$/);
  const flags = permissionFlags();
  for (const p of ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-ffi"]) {
    assert.ok(flags.includes(p), `${p} in ${flags.join(" ")}`);
  }
  assert.ok(!flags.some((f) => f.startsWith("--allow-run")), "hsm-bridge never starts processes");
});

Deno.test("the compile task includes every Worker module (deno compile does not find them)", async () => {
  const task = (denoJson.tasks as Record<string, { command: string }>).compile.command;
  const included = [...task.matchAll(/--include (\S+)/g)].map((m) => m[1]);
  const workers: string[] = [];
  for await (const file of walk(`${root}src`)) {
    const code = await Deno.readTextFile(file);
    for (const m of code.matchAll(/new Worker\(new URL\("\.\/([^"]+)", import\.meta\.url\)/g)) {
      workers.push(`${file.slice(root.length, file.lastIndexOf("/") + 1)}${m[1]}`);
    }
  }
  // None today (the outbox's store left its Worker); one added must be listed in the task.
  assert.deepEqual(included, workers);
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(`${dir}/${e.name}`);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield `${dir}/${e.name}`;
  }
}

Deno.test("deno compile accepts the task and stops only for the missing runtime", async () => {
  const missing = `/nonexistent/denort-${crypto.randomUUID()}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile"],
    cwd: root,
    env: { DENORT_BIN: missing, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.notEqual(out.code, 0);
  assert.ok(text.includes(`Could not find denort at '${missing}'`), text);
  await assert.rejects(Deno.stat(`${root}dist/hsm-bridge`), Deno.errors.NotFound);
});
