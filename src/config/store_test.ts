import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { setConfigValue, unsetConfigValue, writeFileAtomic } from "./store.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const files = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);

Deno.test("writeFileAtomic() creates a new file with mode 0600", () =>
  withDir(async (dir) => {
    await writeFileAtomic(`${dir}/tedge.toml`, "a = 1\n");
    assert.equal((await Deno.stat(`${dir}/tedge.toml`)).mode! & 0o777, 0o600);
    assert.deepEqual(await files(dir), ["tedge.toml"]);
  }));

Deno.test("writeFileAtomic() keeps the mode of an existing file", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    await Deno.writeTextFile(path, "a = 1\n");
    await Deno.chmod(path, 0o640);
    await writeFileAtomic(path, "a = 2\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    assert.equal(await Deno.readTextFile(path), "a = 2\n");
  }));

Deno.test("writeFileAtomic() that fails midway leaves the old file and no temporary file", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    await Deno.writeTextFile(path, "old = true\n");
    await assert.rejects(
      writeFileAtomic(path, "new = true\n", {
        beforeRename: async (temp) => {
          // The new text is on disk under the temporary name only; then the write "crashes".
          assert.equal(await Deno.readTextFile(temp), "new = true\n");
          throw new Error("disk full");
        },
      }),
      (e: Error) => e instanceof ConfigError && /Cannot write file .*: disk full/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(path), "old = true\n");
    assert.deepEqual(await files(dir), ["tedge.toml"]);
  }));

Deno.test("writeFileAtomic() into a missing directory fails with the path", async () => {
  await assert.rejects(writeFileAtomic("/nonexistent-dir/tedge.toml", "x"), {
    name: "ConfigError",
    message: /^Cannot write file "\/nonexistent-dir\/tedge.toml": /,
  });
});

Deno.test("setConfigValue() on a malformed file reports line and column and writes nothing", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    const bad = '[device]\nid = "x"\ncert_path = = 1\n';
    await Deno.writeTextFile(path, bad);
    await assert.rejects(setConfigValue(path, "c8y.url", "a"), {
      name: "ConfigError",
      message: `Cannot parse config file "${path}": line 3, column 13: invalid value`,
    });
    assert.equal(await Deno.readTextFile(path), bad);
  }));

Deno.test("setConfigValue() then unsetConfigValue() give back the original text", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    const original = '# comment\n[c8y]\nurl = "a" # tenant\n\n[logs]\npath = "/x"\n';
    await Deno.writeTextFile(path, original);
    await setConfigValue(path, "c8y.bridge.topic_prefix", "cloud");
    await setConfigValue(path, "c8y.smartrest.templates", ["t1"]);
    assert.match(await Deno.readTextFile(path), /\[c8y.bridge\]\ntopic_prefix = "cloud"\n/);
    await unsetConfigValue(path, "c8y.smartrest.templates");
    await unsetConfigValue(path, "c8y.bridge.topic_prefix");
    assert.equal(
      await Deno.readTextFile(path),
      original + "\n[c8y.bridge]\n\n[c8y.smartrest]\n",
    );
  }));

Deno.test("setConfigValue() refuses an edit that would change other keys", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    // An inline table cannot be extended in place; the checked edit refuses rather than guess.
    const text = '[c8y]\nbridge = { topic_prefix = "c8y" }\n';
    await Deno.writeTextFile(path, text);
    await assert.rejects(setConfigValue(path, "c8y.bridge.keepalive_interval", "30s"), {
      name: "ConfigError",
      message: /Cannot edit "c8y.bridge.keepalive_interval" in ".*" safely/,
    });
    assert.equal(await Deno.readTextFile(path), text);
  }));

Deno.test("unsetConfigValue() refuses a key it cannot remove (inside an inline table)", () =>
  withDir(async (dir) => {
    const path = `${dir}/tedge.toml`;
    const text = 'c8y = { url = "x.example.com" }\n';
    await Deno.writeTextFile(path, text);
    await assert.rejects(unsetConfigValue(path, "c8y.url"), {
      name: "ConfigError",
      message: /Cannot edit "c8y.url" in ".*" safely/,
    });
    assert.equal(await Deno.readTextFile(path), text);
    await unsetConfigValue(path, "c8y.mqtt"); // absent: nothing to do
  }));

Deno.test("setConfigValue() on a symlinked file updates the target and keeps the link", () =>
  withDir(async (dir) => {
    await Deno.mkdir(`${dir}/data`);
    const target = `${dir}/data/tedge.toml`;
    await Deno.writeTextFile(target, '[c8y]\nurl = "a.example.com"\n');
    await Deno.symlink(target, `${dir}/tedge.toml`);
    await setConfigValue(`${dir}/tedge.toml`, "c8y.url", "b.example.com");
    assert.ok((await Deno.lstat(`${dir}/tedge.toml`)).isSymlink);
    assert.equal(await Deno.readTextFile(target), '[c8y]\nurl = "b.example.com"\n');
    assert.deepEqual((await files(`${dir}/data`)).sort(), ["tedge.toml"]);
  }));
