/**
 * `hsm-bridge p11-server` as a process, the way tedge-p11-server runs: its flags, environment
 * and tedge.toml fallback; the socket it binds (parent directory, mode 0660, the flock, a stale
 * socket replaced only when no server answers, removed on SIGTERM and SIGINT); and systemd
 * socket activation with a passed file descriptor (systemd-socket-activate, Debian's systemd).
 */
import assert from "node:assert/strict";
import { encodeFrame, P11Client } from "../src/keys/mod.ts";
import { cliArgv, runCli, startCli } from "./helpers/cli.ts";
import { FakeP11Server, staleSocket } from "./helpers/fake_p11_server.ts";
import { startP11ServerProcess } from "./helpers/p11_server.ts";
import { run, tempDir, TestProcess } from "./helpers/process.ts";
import { SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";

async function hsmWithToken(dir: string): Promise<SoftHsm> {
  const hsm = await SoftHsm.create(`${dir}/hsm`);
  await hsm.initToken("edge", { pin: "1234" });
  return hsm;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function tokenLabels(socketPath: string): Promise<string[]> {
  const tokens = await new P11Client({ socketPath }).listTokens();
  return tokens.map((t) => t.label);
}

Deno.test("p11-server takes flags, then TEDGE_DEVICE_CRYPTOKI_* variables, then tedge.toml", async () => {
  await using dir = await tempDir();
  const hsm = await hsmWithToken(dir.path);
  const confDir = `${dir.path}/etc`;
  await Deno.mkdir(confDir);
  const tomlSocket = `${dir.path}/from-toml/p11.sock`;
  await Deno.writeTextFile(
    `${confDir}/tedge.toml`,
    `[device.cryptoki]\nmode = "socket"\nmodule_path = "${SOFTHSM_MODULE}"\npin = "1234"\n` +
      `socket_path = "${tomlSocket}"\n`,
  );
  const cases: [string, string[], Record<string, string>, string][] = [
    ["tedge.toml only (--config-dir)", ["--config-dir", confDir], {}, tomlSocket],
    [
      "TEDGE_CONFIG_DIR, an empty variable counts as unset",
      [],
      { TEDGE_CONFIG_DIR: confDir, TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH: "" },
      tomlSocket,
    ],
    [
      "environment over tedge.toml",
      ["--config-dir", confDir],
      { TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH: `${dir.path}/from-env/p11.sock` },
      `${dir.path}/from-env/p11.sock`,
    ],
    [
      "flag over environment",
      ["--config-dir", confDir, "--socket-path", `${dir.path}/from-flag/p11.sock`],
      { TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH: `${dir.path}/from-env/p11.sock` },
      `${dir.path}/from-flag/p11.sock`,
    ],
    [
      "environment only, no tedge.toml",
      ["--config-dir", `${dir.path}/nowhere`],
      {
        TEDGE_DEVICE_CRYPTOKI_MODULE_PATH: SOFTHSM_MODULE,
        TEDGE_DEVICE_CRYPTOKI_PIN: "1234",
        TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH: `${dir.path}/env-only/p11.sock`,
      },
      `${dir.path}/env-only/p11.sock`,
    ],
  ];
  for (const [name, args, env, socket] of cases) {
    const server = startCli(["p11-server", ...args], { env: { ...hsm.env, ...env } });
    try {
      await server.waitForOutput(/Server listening/, 20_000);
      assert.match(server.output, new RegExp(`Server listening listener=${socket}\\n`), name);
      assert.deepEqual(await tokenLabels(socket), ["edge"], name);
      // Created with its parent directory; owner and group may connect, nobody else.
      assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o660, name);
      assert.doesNotMatch(server.output, /1234/, "the PIN is never logged");
    } finally {
      assert.equal((await server.stop("SIGTERM")).code, 0, server.output);
    }
    assert.equal(await exists(socket), false, `${name}: socket removed on SIGTERM`);
  }
});

Deno.test("p11-server removes its socket on SIGINT; without a socket path it uses tedge-p11-server's default", async () => {
  await using dir = await tempDir();
  const hsm = await hsmWithToken(dir.path);
  const server = startCli(
    ["p11-server", "--module-path", SOFTHSM_MODULE, "--pin", "1234", "--config-dir", dir.path],
    { env: hsm.env, cwd: dir.path },
  );
  const socket = `${dir.path}/tedge-p11-server.sock`;
  try {
    await server.waitForOutput(/Server listening listener=\.\/tedge-p11-server\.sock/, 20_000);
    assert.match(server.output, /WARN {2}p11-server: No socket path set; using the default/);
    assert.deepEqual(await tokenLabels(socket), ["edge"]);
  } finally {
    assert.equal((await server.stop("SIGINT")).code, 0, server.output);
  }
  assert.equal(await exists(socket), false);
});

Deno.test("a second p11-server is refused by the flock; a dead server's socket is replaced, a live one's never", async () => {
  await using dir = await tempDir();
  const hsm = await hsmWithToken(dir.path);
  const socket = `${dir.path}/run/p11.sock`;
  const first = await startP11ServerProcess(hsm, socket);
  try {
    const second = await runCli(
      ["p11-server", "--socket-path", socket, "--module-path", SOFTHSM_MODULE],
      { env: hsm.env },
    );
    assert.equal(second.code, 1);
    assert.equal(
      second.stderr.split("\n").filter((l) => l.startsWith("hsm-bridge:")).join("\n"),
      `hsm-bridge: Another instance is already listening on the socket at "${socket}" (it holds ` +
        `the lock)`,
    );
    assert.deepEqual(await tokenLabels(socket), ["edge"], "the first one still serves");
    // Killed: nobody removes the socket, the kernel releases the lock.
    await first.stop("SIGKILL");
    assert.equal(await exists(socket), true);
    const third = await startP11ServerProcess(hsm, socket);
    assert.match(third.output, /Removing a stale socket file left over by a previous run/);
    assert.deepEqual(await tokenLabels(socket), ["edge"]);
    await third.stop();
  } finally {
    await first.stop("SIGKILL");
  }
  // A server that answers without holding the lock (a filesystem where flock does nothing):
  // its socket is left alone.
  const live = `${dir.path}/live.sock`;
  await using fake = FakeP11Server.start(live, () => encodeFrame({ type: "Pong" }));
  const refused = await runCli(
    ["p11-server", "--socket-path", live, "--module-path", SOFTHSM_MODULE],
    { env: hsm.env },
  );
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /Another instance is already listening on the socket at ".*live\.sock" \(it answers a ping\)/,
  );
  assert.equal(await exists(live), true);
  assert.ok(fake.requests.length >= 1, "it was pinged");
  // A stale socket file left by a killed tedge-p11-server, no lock file at all.
  const stale = `${dir.path}/stale/p11.sock`;
  await Deno.mkdir(`${dir.path}/stale`);
  await staleSocket(stale);
  const replaced = await startP11ServerProcess(hsm, stale);
  assert.deepEqual(await tokenLabels(stale), ["edge"]);
  await replaced.stop();
});

Deno.test("p11-server refuses to start without a usable PKCS#11 module (exit 78)", async () => {
  await using dir = await tempDir();
  const none = await runCli([
    "p11-server",
    "--config-dir",
    dir.path,
    "--socket-path",
    `${dir.path}/s`,
  ]);
  assert.equal(none.code, 78);
  assert.match(
    none.stderr,
    /hsm-bridge: No PKCS#11 module for p11-server: pass --module-path, set TEDGE_DEVICE_CRYPTOKI_MODULE_PATH or device.cryptoki.module_path in tedge.toml\n/,
  );
  const missing = await runCli([
    "p11-server",
    "--module-path",
    "/usr/lib/none.so",
    "--socket-path",
    `${dir.path}/s`,
  ]);
  assert.equal(missing.code, 78);
  assert.match(missing.stderr, /Cannot load PKCS#11 module "\/usr\/lib\/none.so": file not found/);
  assert.equal(await exists(`${dir.path}/s`), false, "no socket for a server that cannot serve");
});

Deno.test("p11-server under systemd socket activation serves the passed socket, started by the first request", async () => {
  await using dir = await tempDir();
  const hsm = await hsmWithToken(dir.path);
  const socket = `${dir.path}/activated.sock`;
  const env: string[] = [];
  for (const [k, v] of Object.entries({ ...hsm.env, NO_COLOR: "1" })) env.push("-E", `${k}=${v}`);
  for (const k of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    if (Deno.env.get(k) !== undefined) env.push("-E", k);
  }
  // systemd-socket-activate binds the socket, waits for a connection, then execs the server
  // with the listening socket as fd 3 and LISTEN_FDS=1, LISTEN_PID=<its pid>, as systemd does.
  // The --socket-path below is a decoy: with a passed socket it is not bound.
  const activator = new TestProcess("systemd-socket-activate", [
    "-l",
    socket,
    ...env,
    ...cliArgv([
      "p11-server",
      "--module-path",
      SOFTHSM_MODULE,
      "--pin",
      "1234",
      "--socket-path",
      `${dir.path}/decoy.sock`,
    ]),
  ]);
  try {
    await activator.waitForOutput(/Listening on .*activated\.sock as 3/);
    assert.doesNotMatch(activator.output, /Server listening/, "not started before a request");
    // The first request starts the server (as tedge's ready-check ping does).
    await new P11Client({ socketPath: socket }).ping();
    assert.match(activator.output, /Server listening listener="socket passed by systemd \(fd 3\)"/);
    assert.deepEqual(await tokenLabels(socket), ["edge"]);
    assert.equal(await exists(`${dir.path}/decoy.sock`), false);
  } finally {
    assert.equal((await activator.stop("SIGTERM")).code, 0, activator.output);
  }
  // The socket belongs to systemd: it stays for the next activation.
  assert.equal(await exists(socket), true);
});

Deno.test("the p11-server systemd units pass systemd-analyze verify and listen where tedge looks", async () => {
  await using dir = await tempDir();
  const root = new URL("../packaging/", import.meta.url).pathname;
  for (const unit of ["hsm-bridge-p11-server.socket", "hsm-bridge-p11-server.service"]) {
    // The binary is not installed here: point ExecStart at one that is, keep the rest.
    const text = (await Deno.readTextFile(`${root}${unit}`))
      .replace("/usr/local/bin/hsm-bridge p11-server", "/bin/true p11-server");
    await Deno.writeTextFile(`${dir.path}/${unit}`, text);
  }
  const r = await run("systemd-analyze", [
    "verify",
    `${dir.path}/hsm-bridge-p11-server.socket`,
    `${dir.path}/hsm-bridge-p11-server.service`,
  ], { allowFailure: true });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), "", r.stderr);
  const socketUnit = await Deno.readTextFile(`${root}hsm-bridge-p11-server.socket`);
  // %t is /run for system units: device.cryptoki.socket_path's default.
  assert.match(socketUnit, /^ListenStream=%t\/tedge-p11-server\/tedge-p11-server\.sock$/m);
  assert.match(socketUnit, /^SocketMode=0660$/m);
  const serviceUnit = await Deno.readTextFile(`${root}hsm-bridge-p11-server.service`);
  assert.match(serviceUnit, /^ExecStart=\/usr\/local\/bin\/hsm-bridge p11-server /m);
  assert.match(serviceUnit, /^RestartPreventExitStatus=78$/m);
});
