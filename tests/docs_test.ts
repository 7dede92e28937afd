/** Documentation generated from code must match the code. */
import assert from "node:assert/strict";
import { configReference } from "../tools/config_reference.ts";

const root = new URL("../", import.meta.url).pathname;

async function formatted(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    cwd: root,
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(markdown));
  await w.close();
  return new TextDecoder().decode((await child.output()).stdout);
}

Deno.test("docs/configuration.md is what the config schema generates", async () => {
  const onDisk = await Deno.readTextFile(`${root}docs/configuration.md`);
  assert.equal(
    onDisk,
    await formatted(configReference()),
    "docs/configuration.md is stale: run `deno run -A tools/config_reference.ts && deno fmt docs`",
  );
});
