/**
 * `deno task setup`: everything the tests, the demo and the benchmarks need, installed only
 * when missing, so that a second run changes nothing and takes a few seconds.
 *
 * 1. Debian packages (apt-get as root; otherwise the exact command is printed and we stop).
 * 2. npm packages into ./node_modules (`deno install`, pinned by deno.json and deno.lock).
 * 3. The pkcs11js Node-API addon, built with npm's node-gyp against the local Node headers:
 *    `deno install` does not run install scripts, and node-gyp must not download headers
 *    (no internet), so --nodedir points at the headers Node.js shipped with.
 */

const DEBIAN_PACKAGES = [
  "softhsm2",
  "mosquitto",
  "mosquitto-clients",
  "openssl",
  "p11-kit",
  "p11-kit-modules",
  "gnutls-bin",
  "opensc",
  // Building the pkcs11js addon with node-gyp.
  "g++",
  "make",
  "python3",
  // `ip link set lo up` inside `unshare -n` (GnuTLS interop tests).
  "iproute2",
  // A software TPM 2.0 behind tpm2-pkcs11: swtpm in socket mode, tpm2-abrmd on a private
  // session D-Bus (dbus-daemon), tpm2_ptool for tokens, tpm2-tools for the lockout.
  "swtpm",
  "swtpm-tools",
  "tpm2-tools",
  "tpm2-abrmd",
  // The TCTI that reaches tpm2-abrmd: only a Recommends of tpm2-abrmd, which
  // --no-install-recommends leaves out (then every tool fails with "Could not load tcti").
  "libtss2-tcti-tabrmd0",
  "dbus-daemon",
  "libtpm2-pkcs11-1",
  "libtpm2-pkcs11-tools",
  // opencryptoki's soft token: a third PKCS#11 module for key generation.
  "opencryptoki",
  // A TLS 1.2-only terminator in front of a plain mosquitto.
  "stunnel4",
  // systemd-socket-activate (p11-server socket activation) and systemd-analyze (its units).
  "systemd",
];

const root = new URL("..", import.meta.url).pathname;

async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; quiet?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd ?? root,
      env: opts.env,
      stdout: opts.quiet ? "piped" : "inherit",
      stderr: opts.quiet ? "piped" : "inherit",
    }).output();
  } catch (e) {
    // A program that is not installed (no npm, no dpkg-query): what a shell reports, 127.
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return { code: 127, stdout: "", stderr: `${cmd}: not found` };
  }
  // Inherited output is not captured: Deno's CommandOutput throws on reading a stream that was
  // not piped, so only a quiet run has text to return.
  const dec = new TextDecoder();
  return opts.quiet
    ? { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) }
    : { code: out.code, stdout: "", stderr: "" };
}

function fail(message: string): never {
  console.error(`setup: ${message}`);
  Deno.exit(1);
}

async function missingDebianPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const pkg of DEBIAN_PACKAGES) {
    const r = await run("dpkg-query", ["-W", "-f=${Status}", pkg], { quiet: true });
    if (r.code !== 0 || !r.stdout.includes("install ok installed")) missing.push(pkg);
  }
  return missing;
}

async function installDebianPackages(): Promise<void> {
  const missing = await missingDebianPackages();
  if (missing.length) await aptInstall(missing, "missing Debian packages");
}

let aptUpdated = false;

/** Installs Debian packages as root; otherwise prints the exact command to run and stops. */
async function aptInstall(packages: string[], why: string): Promise<void> {
  const line = `apt-get install -y --no-install-recommends ${packages.join(" ")}`;
  if (Deno.uid() !== 0) fail(`${why}: ${packages.join(", ")}\nRun as root: sudo ${line}`);
  console.log(`setup: installing ${packages.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    if ((await run("apt-get", ["update", "-q"], { env })).code !== 0) {
      fail("apt-get update failed (see above)");
    }
    aptUpdated = true;
  }
  const r = await run("apt-get", line.split(" ").slice(1), { env });
  if (r.code !== 0) fail(`"${line}" failed (see above)`);
}

async function installNpmPackages(): Promise<void> {
  const r = await run(Deno.execPath(), ["install", "--quiet"], { quiet: true });
  if (r.code !== 0) fail(`"deno install" failed: ${r.stderr.trim()}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory holding include/node/node_api.h: npm's nodedir, else the running node's prefix
 * (NodeSource and nodejs.org installs ship the headers there). Debian's own nodejs package ships
 * them separately, in libnode-dev (/usr/include/node, under node's prefix /usr).
 */
async function nodeHeadersDir(): Promise<string> {
  const candidates = await nodeHeaderCandidates();
  const found = await firstWithHeaders(candidates);
  if (found) return found;
  if (await isDebianNode()) {
    await aptInstall(["libnode-dev"], "needed to build the pkcs11js addon");
    const again = await firstWithHeaders(candidates);
    if (again) return again;
  }
  fail(
    `cannot find the Node.js headers (include/node/node_api.h) under ${
      candidates.map((c) => `"${c}"`).join(" or ") || "npm's nodedir or node's prefix"
    }: install the Node.js development headers or set "npm config set nodedir DIR"`,
  );
}

async function nodeHeaderCandidates(): Promise<string[]> {
  const configured = (await run("npm", ["config", "get", "nodedir"], { quiet: true })).stdout
    .trim();
  const candidates = configured && configured !== "undefined" ? [configured] : [];
  const which = await run("sh", ["-c", "command -v node"], { quiet: true });
  if (which.code === 0) {
    const nodeBin = await Deno.realPath(which.stdout.trim());
    candidates.push(nodeBin.replace(/\/bin\/[^/]+$/, ""));
  }
  return candidates;
}

async function firstWithHeaders(dirs: string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    if (await exists(`${dir}/include/node/node_api.h`)) return dir;
  }
  return undefined;
}

/**
 * node-gyp: npm's bundled copy (NodeSource and nodejs.org installs), else one on PATH (Debian's
 * `node-gyp` package, which Debian's own npm depends on, installs /usr/bin/node-gyp); installed
 * from Debian as a last resort.
 */
async function findNodeGyp(): Promise<string[]> {
  const found = await nodeGypCommand();
  if (found) return found;
  await aptInstall(["node-gyp"], "needed to build the pkcs11js addon");
  return await nodeGypCommand() ??
    fail(`node-gyp is still not found after installing it: put node-gyp on PATH`);
}

async function nodeGypCommand(): Promise<string[] | undefined> {
  const npmRoot = (await run("npm", ["root", "-g"], { quiet: true })).stdout.trim();
  const bundled = `${npmRoot}/npm/node_modules/node-gyp/bin/node-gyp.js`;
  if (npmRoot && await exists(bundled)) return ["node", bundled];
  const onPath = await run("sh", ["-c", "command -v node-gyp"], { quiet: true });
  return onPath.code === 0 ? [onPath.stdout.trim()] : undefined;
}

/** Whether node comes from Debian's nodejs package (not NodeSource, which ships headers). */
async function isDebianNode(): Promise<boolean> {
  const r = await run("dpkg-query", ["-W", "-f=${Version}", "nodejs"], { quiet: true });
  return r.code === 0 && !r.stdout.includes("nodesource");
}

async function buildPkcs11Addon(): Promise<void> {
  const pkgDir = await Deno.realPath(`${root}node_modules/pkcs11js`);
  if (await exists(`${pkgDir}/build/Release/pkcs11.node`)) return;
  const [gyp, ...gypArgs] = await findNodeGyp();
  const nodedir = await nodeHeadersDir();
  console.log(`setup: building pkcs11js in ${pkgDir}`);
  const r = await run(gyp, [...gypArgs, "rebuild", `--nodedir=${nodedir}`], {
    cwd: pkgDir,
    quiet: true,
  });
  if (r.code !== 0) {
    console.error(r.stdout, r.stderr);
    fail(`building the pkcs11js addon failed in "${pkgDir}" (node-gyp output above)`);
  }
}

await installDebianPackages();
await installNpmPackages();
await buildPkcs11Addon();
