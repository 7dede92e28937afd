import assert from "node:assert/strict";
import { checkImports } from "../tools/check_imports.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "imports-" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.replace(/\/[^/]+$/, "")}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return dir;
}

Deno.test("checkImports() passes this repository: no cycle, every door kept", async () => {
  assert.deepEqual(await checkImports(), []);
});

Deno.test("checkImports() names the files of an import cycle", async () => {
  const dir = await tree({
    "src/tls/alert.ts": 'import { E } from "./errors.ts";\nexport const A = 1;\n',
    "src/tls/errors.ts": 'import type { A } from "./alert.ts";\nexport class E {}\n',
    "src/tls/mod.ts": 'export { A } from "./alert.ts";\n',
  });
  try {
    assert.deepEqual(await checkImports(dir), [
      "import cycle: src/tls/alert.ts <-> src/tls/errors.ts",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkImports() refuses an import past another folder's door, allows enclosing folders and tests", async () => {
  const dir = await tree({
    "src/tls/record/record.ts": 'import { E } from "../errors.ts";\nexport const R = E;\n',
    "src/tls/record/mod.ts": 'export { R } from "./record.ts";\n',
    "src/tls/errors.ts": "export const E = 1;\n",
    "src/tls/client.ts": 'import { R } from "./record/record.ts";\nexport const C = R;\n',
    "src/tls/client_test.ts": 'import { R } from "./record/record.ts";\nconsole.log(R);\n',
    "src/bridge/bridge.ts": 'import { C } from "../tls/client.ts";\nexport const B = C;\n',
  });
  try {
    assert.deepEqual(await checkImports(dir), [
      'src/bridge/bridge.ts imports "src/tls/client.ts" past its folder\'s door: import src/tls/mod.ts',
      'src/tls/client.ts imports "src/tls/record/record.ts" past its folder\'s door: import src/tls/record/mod.ts',
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
