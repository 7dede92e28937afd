/**
 * `deno task setup` (tools/setup.ts) on machines that lack things, which the machines the suite
 * runs on never do: a copy of the script runs in a scratch checkout with stand-ins on PATH for
 * everything it calls (dpkg-query, apt-get, npm, node, node-gyp), as root and as an unprivileged
 * user. The stand-ins record their arguments; PATH holds nothing else (plus `sh`), so what the
 * real machine has installed cannot decide which branch runs.
 *
 * The scratch checkout has its own deno.json without dependencies and a stand-in
 * node_modules/pkcs11js, so nothing is installed or built in the worktree the suite runs in.
 */
import assert from "node:assert/strict";
import { run, tempDir } from "./helpers/process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const NOBODY = 65534;

/** A stand-in: logs `name args...` (and DEBIAN_FRONTEND for apt-get), then acts per env. */
const STUBS: Record<string, string> = {
  "dpkg-query": `
case "$2" in
  *Version*) [ -n "$STUB_NODE_VERSION" ] || exit 1; printf %s "$STUB_NODE_VERSION"; exit 0;;
esac
for p in $STUB_MISSING; do
  if [ "$p" = "$3" ] || [ "$p" = all ]; then
    echo "dpkg-query: no packages found matching $3" >&2; exit 1
  fi
done
printf 'install ok installed'`,
  "apt-get": `
echo "apt-get $* (DEBIAN_FRONTEND=$DEBIAN_FRONTEND)" >> "$STUB_LOG"
echo "stand-in apt-get $1"
if [ "$STUB_APT_FAIL" = "$1" ]; then echo "E: stand-in apt-get $1 failed" >&2; exit 100; fi`,
  npm: `
case "$*" in
  "config get nodedir") echo "\${STUB_NODEDIR:-undefined}";;
  "root -g") echo "$STUB_NPM_ROOT";;
  *) echo "npm $*: not a stand-in" >&2; exit 1;;
esac`,
  node: `
echo "\${0##*/} $* (in $(pwd))" >> "$STUB_LOG"
exit "\${STUB_BUILD_EXIT:-0}"`,
};

interface Scenario {
  /** Debian packages dpkg-query calls missing ("all" for every one). */
  missing?: string[];
  aptFails?: "update" | "install";
  /** Whether node_modules/pkcs11js/build/Release/pkcs11.node exists already. */
  addonBuilt?: boolean;
  /** Where node-gyp is: npm's bundled copy, on PATH, or nowhere. */
  nodeGyp?: "npm" | "path" | "none";
  /** Where the Node.js headers are: npm's nodedir, node's prefix, or nowhere. */
  headers?: "nodedir" | "prefix" | "none";
  /** dpkg-query's version of nodejs (a Debian one means libnode-dev has the headers). */
  nodeVersion?: string;
  buildFails?: boolean;
  /** The scratch checkout's deno.json (a broken one makes `deno install` fail). */
  denoJson?: string;
  /** Run as an unprivileged user (uid 65534) instead of root. */
  unprivileged?: boolean;
}

interface Outcome {
  code: number;
  output: string;
  /** What the stand-ins recorded, one call a line. */
  calls: string[];
  dir: string;
}

async function writeExecutable(path: string, body: string): Promise<void> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body.trim()}\n`, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
}

/** The deno binary where an unprivileged user can run it (a hard link; a copy if need be). */
async function denoFor(dir: string): Promise<string> {
  const path = `${dir}/deno`;
  await Deno.link(Deno.execPath(), path).catch(() => Deno.copyFile(Deno.execPath(), path));
  return path;
}

/** Runs a copy of tools/setup.ts in a scratch checkout under `s`. */
async function setup(s: Scenario): Promise<Outcome> {
  await using tmp = await tempDir("hsm-bridge-setup-");
  const dir = tmp.path;
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  await Deno.mkdir(`${dir}/tools`);
  await Deno.copyFile(`${ROOT}tools/setup.ts`, `${dir}/tools/setup.ts`);
  await Deno.writeTextFile(`${dir}/deno.json`, s.denoJson ?? "{}\n");
  const addon = `${dir}/node_modules/pkcs11js`;
  await Deno.mkdir(`${addon}/build/Release`, { recursive: true });
  if (s.addonBuilt ?? true) await Deno.writeTextFile(`${addon}/build/Release/pkcs11.node`, "");
  for (const [name, body] of Object.entries(STUBS)) await writeExecutable(`${bin}/${name}`, body);
  await Deno.symlink("/bin/sh", `${bin}/sh`);
  const npmRoot = `${dir}/npm-global`;
  if (s.nodeGyp === "npm") {
    await Deno.mkdir(`${npmRoot}/npm/node_modules/node-gyp/bin`, { recursive: true });
    await Deno.writeTextFile(`${npmRoot}/npm/node_modules/node-gyp/bin/node-gyp.js`, "");
  }
  if (s.nodeGyp === "path") await writeExecutable(`${bin}/node-gyp`, STUBS.node);
  const headers = s.headers === "nodedir" ? `${dir}/node-headers` : dir; // node's prefix: dir
  if (s.headers !== "none" && s.headers !== undefined) {
    await Deno.mkdir(`${headers}/include/node`, { recursive: true });
    await Deno.writeTextFile(`${headers}/include/node/node_api.h`, "");
  }
  const log = `${dir}/calls.log`;
  await Deno.writeTextFile(log, "");
  const deno = await denoFor(dir);
  const env: Record<string, string> = {
    PATH: bin,
    HOME: dir,
    DENO_DIR: `${dir}/deno-dir`,
    NO_COLOR: "1",
    STUB_LOG: log,
    STUB_MISSING: (s.missing ?? []).join(" "),
    STUB_APT_FAIL: s.aptFails ?? "",
    STUB_NPM_ROOT: npmRoot,
    STUB_NODEDIR: s.headers === "nodedir" ? headers : "",
    STUB_NODE_VERSION: s.nodeVersion ?? "20.20.2-1nodesource1",
    STUB_BUILD_EXIT: s.buildFails ? "1" : "0",
  };
  // --no-config: a broken deno.json must reach setup's own `deno install`.
  const command = [deno, "run", "--no-config", "--allow-all", `${dir}/tools/setup.ts`];
  if (s.unprivileged) {
    await run("chown", ["-R", `${NOBODY}:${NOBODY}`, dir]);
    const setpriv = (await run("sh", ["-c", "command -v setpriv"])).stdout.trim();
    command.unshift(setpriv, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--");
  }
  const r = await run(command[0], command.slice(1), {
    cwd: dir,
    env,
    clearEnv: true,
    allowFailure: true,
  });
  const calls = (await Deno.readTextFile(log)).split("\n").filter(Boolean)
    .map((l) => l.replaceAll(dir, "<dir>"));
  return { code: r.code, output: (r.stdout + r.stderr).replaceAll(dir, "<dir>"), calls, dir };
}

const INSTALL = "apt-get install -y --no-install-recommends";

Deno.test("setup changes nothing on a machine that has everything, as root and as another user", async () => {
  for (const unprivileged of [false, true]) {
    const r = await setup({ unprivileged });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.calls, [], "no apt-get, no build");
    assert.equal(r.output, "", "nothing to say");
  }
});

Deno.test("setup installs the missing Debian packages as root with apt-get, after an update", async () => {
  const r = await setup({ missing: ["swtpm", "tpm2-abrmd"] });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(r.calls, [
    "apt-get update -q (DEBIAN_FRONTEND=noninteractive)",
    `${INSTALL} swtpm tpm2-abrmd (DEBIAN_FRONTEND=noninteractive)`,
  ]);
  // apt-get's own output reaches the user (inherited, not swallowed).
  assert.match(r.output, /^setup: installing swtpm tpm2-abrmd\nstand-in apt-get update\n/);
  assert.match(r.output, /stand-in apt-get install\n$/);
});

Deno.test("setup as another user prints the exact apt-get line, runs nothing and fails", async () => {
  const r = await setup({ missing: ["softhsm2", "opencryptoki"], unprivileged: true });
  assert.equal(r.code, 1, r.output);
  assert.deepEqual(r.calls, []);
  assert.equal(
    r.output,
    "setup: missing Debian packages: softhsm2, opencryptoki\n" +
      `Run as root: sudo ${INSTALL} softhsm2 opencryptoki\n`,
  );
});

Deno.test("setup stops with the failing command when apt-get fails", async () => {
  const update = await setup({ missing: ["mosquitto"], aptFails: "update" });
  assert.equal(update.code, 1, update.output);
  assert.equal(update.calls.length, 1, "no install after a failed update");
  assert.match(update.output, /E: stand-in apt-get update failed\nsetup: apt-get update failed/);
  const install = await setup({ missing: ["mosquitto"], aptFails: "install" });
  assert.equal(install.code, 1, install.output);
  assert.equal(install.calls.length, 2);
  assert.match(
    install.output,
    new RegExp(`setup: "${INSTALL} mosquitto" failed \\(see above\\)\n$`),
  );
});

Deno.test("setup lists every Debian package it needs when none is installed", async () => {
  const r = await setup({ missing: ["all"], unprivileged: true });
  assert.equal(r.code, 1, r.output);
  const line = /sudo (apt-get install .*)\n/.exec(r.output)?.[1] ?? "";
  const packages = line.split(" ").slice(4);
  for (const p of ["softhsm2", "swtpm", "tpm2-abrmd", "libtss2-tcti-tabrmd0", "opencryptoki"]) {
    assert.ok(packages.includes(p), `${p} in "${line}"`);
  }
  // The README names each of them too.
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const setupSection = readme.split("## Setup")[1].split("\n## ")[0].replace(/\s+/g, " ");
  for (const p of packages) assert.ok(setupSection.includes(p), `README's Setup names ${p}`);
});

Deno.test("setup builds the pkcs11js addon with npm's node-gyp and npm's nodedir", async () => {
  const r = await setup({ addonBuilt: false, nodeGyp: "npm", headers: "nodedir" });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(r.calls, [
    "node <dir>/npm-global/npm/node_modules/node-gyp/bin/node-gyp.js rebuild " +
    "--nodedir=<dir>/node-headers (in <dir>/node_modules/pkcs11js)",
  ]);
  assert.match(r.output, /setup: building pkcs11js in <dir>\/node_modules\/pkcs11js\n/);
});

Deno.test("setup finds node-gyp on PATH and the headers under node's prefix", async () => {
  const r = await setup({ addonBuilt: false, nodeGyp: "path", headers: "prefix" });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(r.calls, [
    "node-gyp rebuild --nodedir=<dir> (in <dir>/node_modules/pkcs11js)",
  ]);
});

Deno.test("setup installs node-gyp from Debian when there is none, and says so when that does not help", async () => {
  const r = await setup({ addonBuilt: false, nodeGyp: "none", headers: "prefix" });
  assert.equal(r.code, 1, r.output);
  assert.deepEqual(r.calls, [
    "apt-get update -q (DEBIAN_FRONTEND=noninteractive)",
    `${INSTALL} node-gyp (DEBIAN_FRONTEND=noninteractive)`,
  ]);
  assert.match(r.output, /setup: node-gyp is still not found after installing it/);
  const user = await setup({ addonBuilt: false, nodeGyp: "none", unprivileged: true });
  assert.equal(user.code, 1, user.output);
  assert.deepEqual(user.calls, []);
  assert.equal(
    user.output,
    "setup: needed to build the pkcs11js addon: node-gyp\n" +
      `Run as root: sudo ${INSTALL} node-gyp\n`,
  );
});

Deno.test("setup installs libnode-dev for Debian's node when the headers are missing", async () => {
  const debian = await setup({
    addonBuilt: false,
    nodeGyp: "npm",
    headers: "none",
    nodeVersion: "18.19.0+dfsg-6~deb12u2",
  });
  assert.equal(debian.code, 1, debian.output);
  assert.deepEqual(debian.calls, [
    "apt-get update -q (DEBIAN_FRONTEND=noninteractive)",
    `${INSTALL} libnode-dev (DEBIAN_FRONTEND=noninteractive)`,
  ]);
  assert.match(
    debian.output,
    /setup: cannot find the Node.js headers \(include\/node\/node_api.h\) under "<dir>": install/,
  );
  // NodeSource's node ships its headers: nothing to install from Debian, just the error.
  const other = await setup({ addonBuilt: false, nodeGyp: "npm", headers: "none" });
  assert.equal(other.code, 1, other.output);
  assert.deepEqual(other.calls, []);
  assert.match(other.output, /cannot find the Node.js headers/);
});

Deno.test("setup reports a failed addon build and a failed deno install", async () => {
  const build = await setup({
    addonBuilt: false,
    nodeGyp: "path",
    headers: "prefix",
    buildFails: true,
  });
  assert.equal(build.code, 1, build.output);
  assert.match(
    build.output,
    /setup: building the pkcs11js addon failed in "<dir>\/node_modules\/pkcs11js"/,
  );
  const install = await setup({ denoJson: "{ not json" });
  assert.equal(install.code, 1, install.output);
  assert.match(install.output, /setup: "deno install" failed: /);
});
