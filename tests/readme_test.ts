/** The README's quick start is what CI runs: these tests fail when they drift apart. */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

function quickStartCommands(readme: string): string[] {
  const section = readme.split("## Quick start")[1]?.split("\n## ")[0] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

Deno.test("README quick start has exactly two commands: the demo and the tests", async () => {
  const commands = quickStartCommands(await Deno.readTextFile(`${root}README.md`));
  assert.deepEqual(commands, ["npx -y deno@2.9.6 task demo", "npx -y deno@2.9.6 task test"]);
});

Deno.test(".ci/run runs the README's test command verbatim", async () => {
  const [, test] = quickStartCommands(await Deno.readTextFile(`${root}README.md`));
  const script = await Deno.readTextFile(`${root}.ci/run`);
  const commands = script.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  assert.equal(commands.at(-1), test);
});

Deno.test("README says which design-card packages were replaced", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  for (
    const pair of [["@std/toml", "smol-toml"], ["@std/assert", "node:assert/strict"], [
      "cliffy",
      "commander",
    ]]
  ) {
    assert.match(readme, new RegExp(`\\| \`?${pair[0]}\`? +\\| \`${pair[1]}\` +\\|`));
  }
});
