/**
 * A clone in any directory runs its tests: every fixture a test reads is in the repository
 * (tests/testdata/), and nothing names a path that only exists on the machine the project was
 * written on. System packages (/usr, /etc, ...) and temporary directories are fine.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** Places that are someone's machine, not an installed system or a scratch directory. */
const OUTSIDE = /["'`](\/(?:work|home|root|srv|opt)\/[^"'`\s]*)/g;

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "node_modules") yield* sources(path);
    else if (/\.(ts|json|md)$/.test(entry.name) || entry.name === "run") yield path;
  }
}

Deno.test("no source, test, tool or benchmark names a path outside the checkout", async () => {
  const found: string[] = [];
  for (const top of ["src", "tests", "tools", "bench", ".ci"]) {
    for await (const file of sources(`${ROOT}${top}`)) {
      if (file.endsWith("checkout_test.ts")) continue;
      for (const m of (await Deno.readTextFile(file)).matchAll(OUTSIDE)) {
        found.push(`${file.slice(ROOT.length)}: ${m[1]}`);
      }
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("the RFC 8448 traces the TLS tests read are in the checkout, with their origin", async () => {
  const dir = `${ROOT}tests/testdata/rfc8448`;
  const vectors = await Deno.readTextFile(`${dir}/transcripts.vec`);
  assert.match(vectors, /^\[Simple_1RTT_Handshake\]$/m);
  assert.match(await Deno.readTextFile(`${dir}/README.md`), /Origin: Botan, .*BSD 2-Clause/s);
});
