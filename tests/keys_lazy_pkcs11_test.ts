/**
 * pkcs11js (a native addon) must not load unless a PKCS#11 module is used: socket mode runs
 * where the addon cannot load (a container without the module, say). Checked on the module
 * graph Deno itself computes for cli.ts; the socket-mode CLI tests check it at run time.
 */
import assert from "node:assert/strict";
import { run } from "./helpers/process.ts";

interface InfoModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier: string };
    type?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

Deno.test("cli.ts reaches pkcs11js only through loadPkcs11()'s dynamic import", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const info = JSON.parse(
    (await run(Deno.execPath(), ["info", "--json", "cli.ts"], { cwd: root })).stdout,
  ) as { roots: string[]; modules: InfoModule[] };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const dynamic: string[] = [];
  const staticNpm = new Set<string>();
  const queue = [...info.roots];
  while (queue.length) {
    const spec = queue.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const dep of bySpecifier.get(spec)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if (!target) continue;
      if (dep.isDynamic) {
        dynamic.push(`${spec.slice(spec.indexOf("/src/") + 1)} -> ${dep.specifier}`);
        continue;
      }
      if (target.startsWith("npm:")) staticNpm.add(target.replace(/@[^@/]*$/, ""));
      queue.push(target);
    }
  }
  assert.ok(seen.has(new URL("src/keys/socket/mod.ts", `file://${root}`).href));
  assert.ok(!staticNpm.has("npm:pkcs11js"), `statically imported: ${[...staticNpm]}`);
  const pkcs11 = [...seen].filter((s) => s.includes("/src/keys/pkcs11/")).map((s) =>
    s.slice(s.lastIndexOf("/") + 1)
  ).sort();
  assert.deepEqual(pkcs11, ["mod.ts", "uri.ts"], "only the door and the pure URI parser");
  assert.deepEqual(dynamic, ["src/keys/pkcs11/mod.ts -> ./provider.ts"]);
});
