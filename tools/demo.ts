/**
 * `deno task demo [--duration SECONDS]`: the whole product in a sandbox, with no outside
 * services. Everything lives in one temporary directory and is removed on exit or Ctrl-C.
 *
 *   device (mosquitto_pub) ─c8y/s/us─> local mosquitto ─> hsm-bridge run ─TLS 1.3─> "cloud" mosquitto
 *                                                           │ CertificateVerify      (client cert required)
 *                                                           └─> SoftHSM token key
 *
 * 1. A SoftHSM token, and a device key generated on it by `hsm-bridge hsm create-key`.
 * 2. A demo CA signs the CSR that `hsm-bridge cert create-csr` makes with the token key.
 * 3. A local mosquitto and a stand-in cloud mosquitto (TLS 1.3, client certificate required).
 * 4. tedge.toml written with `hsm-bridge config set`.
 * 5. `hsm-bridge check tls`: the handshake, its parameters and the token's signature time.
 * 6. `hsm-bridge run`, a device publishing SmartREST measurements, the cloud sending an
 *    operation back; each message is shown as it crosses.
 */
import { cliArgv } from "../tests/helpers/cli.ts";
import { Mosquitto } from "../tests/helpers/mosquitto.ts";
import { run as runProcess, TestProcess } from "../tests/helpers/process.ts";

const DEVICE_ID = "demo-device-0001";
const PIN = "1234";

function parseDuration(args: string[]): number | undefined {
  const i = args.findIndex((a) => a === "--duration" || a.startsWith("--duration="));
  if (i < 0) return undefined;
  const text = args[i].includes("=") ? args[i].split("=")[1] : args[i + 1];
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(`demo: invalid --duration "${text}": expected a number of seconds, e.g. 30`);
    Deno.exit(2);
  }
  return seconds;
}

const say = (text: string) => console.log(text);
const step = (n: number, title: string) => say(`\n== ${n}. ${title}`);
const indent = (text: string) => text.trimEnd().split("\n").map((l) => `   ${l}`).join("\n");

class Demo {
  readonly processes: TestProcess[] = [];
  readonly brokers: Mosquitto[] = [];
  readonly env: Record<string, string>;
  crossedUp = 0;
  crossedDown = 0;

  constructor(readonly dir: string) {
    this.env = {
      SOFTHSM2_CONF: `${dir}/softhsm/softhsm2.conf`,
      TEDGE_CONFIG_DIR: dir,
    };
  }

  /** Runs `hsm-bridge ARGS...`, shows the command and its output; throws on failure. */
  async cli(args: string[], { show = true } = {}): Promise<string> {
    if (show) say(`   $ hsm-bridge ${args.join(" ")}`);
    const [cmd, ...rest] = cliArgv(args);
    const r = await runProcess(cmd, rest, { env: this.env, allowFailure: true });
    if (r.code !== 0) throw new Error(`hsm-bridge ${args.join(" ")} failed:\n${r.stderr}`);
    if (show && r.stdout.trim()) say(indent(r.stdout));
    return r.stdout;
  }

  async openssl(args: string[]): Promise<void> {
    await runProcess("openssl", args, { cwd: this.dir });
  }

  spawn(cmd: string, args: string[], env?: Record<string, string>): TestProcess {
    const p = new TestProcess(cmd, args, { cwd: this.dir, env });
    this.processes.push(p);
    return p;
  }

  async cleanup(): Promise<void> {
    for (const p of this.processes.reverse()) await p.stop("SIGTERM", 8000).catch(() => {});
    for (const b of this.brokers.reverse()) await b.stop().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function token(demo: Demo): Promise<void> {
  step(1, "A hardware token holds the device key (SoftHSM stands in for a YubiKey or TPM)");
  const hsmDir = `${demo.dir}/softhsm`;
  await Deno.mkdir(`${hsmDir}/tokens`, { recursive: true });
  await Deno.writeTextFile(
    `${hsmDir}/softhsm2.conf`,
    `directories.tokendir = ${hsmDir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  await runProcess("softhsm2-util", [
    "--init-token",
    "--free",
    "--label",
    "demo-token",
    "--pin",
    PIN,
    "--so-pin",
    "5678",
  ], { env: demo.env });
  say(`   token "demo-token" initialised (user PIN ${PIN})`);
  await demo.cli(["config", "set", "device.cryptoki.mode", "module"]);
  await demo.cli([
    "config",
    "set",
    "device.cryptoki.module_path",
    "/usr/lib/softhsm/libsofthsm2.so",
  ]);
  await demo.cli(["config", "set", "device.cryptoki.pin", PIN]);
  await demo.cli(["hsm", "create-key", "--type", "ecdsa", "--curve", "p256", "--set-config"]);
  say("   The private key was generated on the token (sensitive, not extractable).");
}

async function certificates(demo: Demo): Promise<void> {
  step(2, "A certificate for the token key: CSR signed on the token, issued by a demo CA");
  const d = demo.dir;
  const p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await demo.openssl([
    "req",
    "-x509",
    ...p256,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=hsm-bridge demo CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await demo.cli([
    "cert",
    "create-csr",
    "--subject",
    `CN=${DEVICE_ID}`,
    "--out",
    `${d}/device.csr`,
  ]);
  await issue(demo, "device", "clientAuth", { csr: `${d}/device.csr` });
  say(`   demo CA issued device.pem for CN=${DEVICE_ID} (openssl x509 -req -in device.csr ...)`);
  await demo.cli(["config", "set", "device.cert_path", `${d}/device.pem`]);
  say("   What is on the token now:");
  await demo.cli(["hsm", "list-keys"]);
  await issue(demo, "cloud", "serverAuth", { san: "DNS:localhost,IP:127.0.0.1" });
  await issue(demo, "viewer", "clientAuth", {});
  say("   and a server certificate for the stand-in cloud broker (CN=localhost)");
}

async function issue(
  demo: Demo,
  name: string,
  usage: "clientAuth" | "serverAuth",
  opts: { csr?: string; san?: string },
): Promise<void> {
  const d = demo.dir;
  if (!opts.csr) {
    await demo.openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name === "cloud" ? "localhost" : name}`,
    ]);
  }
  const ext = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    `extendedKeyUsage=${usage}`,
    ...(opts.san ? [`subjectAltName=${opts.san}`] : []),
  ].join("\n");
  await Deno.writeTextFile(`${d}/${name}.ext`, ext + "\n");
  await demo.openssl([
    "x509",
    "-req",
    "-in",
    opts.csr ?? `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  ]);
}

async function brokers(demo: Demo): Promise<{ local: Mosquitto; cloud: Mosquitto }> {
  step(3, "Two brokers on loopback: the device's local mosquitto and a stand-in cloud");
  const local = await Mosquitto.start({ dir: demo.dir, persistence: true });
  demo.brokers.push(local);
  const d = demo.dir;
  const cloud = await Mosquitto.start({
    dir: d,
    tls: { caPath: `${d}/ca.pem`, certPath: `${d}/cloud.pem`, keyPath: `${d}/cloud.key` },
  });
  demo.brokers.push(cloud);
  say(`   local mosquitto  127.0.0.1:${local.port}`);
  say(`   cloud mosquitto  127.0.0.1:${cloud.port} (TLS 1.3 only, client certificate required)`);
  return { local, cloud };
}

async function configure(demo: Demo, ports: { local: number; cloud: number }): Promise<void> {
  step(4, `tedge.toml in ${demo.dir}, written with hsm-bridge config set`);
  const d = demo.dir;
  for (
    const [key, value] of [
      ["c8y.url", "localhost"],
      ["c8y.mqtt", `localhost:${ports.cloud}`],
      ["c8y.root_cert_path", `${d}/ca.pem`],
      ["mqtt.client.port", String(ports.local)],
      ["mqtt.bridge.reconnect_policy.initial_interval", "1s"],
      ["c8y.bridge.outbox.dir", `${d}/outbox`],
    ]
  ) await demo.cli(["config", "set", key, value]);
  say("   $ hsm-bridge config list device.");
  say(indent(await demo.cli(["config", "list", "device."], { show: false })));
}

async function bridge(demo: Demo, ports: { local: number; cloud: number }): Promise<TestProcess> {
  step(5, "The TLS 1.3 handshake, with the token signing the CertificateVerify");
  await demo.cli(["check", "tls"]);
  step(6, "hsm-bridge run");
  const viewer = cloudViewer(demo, ports.cloud);
  const localOps = demo.spawn("mosquitto_sub", [
    "-p",
    String(ports.local),
    "-t",
    "c8y/s/ds",
    "-t",
    "te/device/main/service/+/status/health",
    "-v",
  ]);
  const [cmd, ...args] = cliArgv(["run", "--stats-interval", "10"]);
  const bridgeProcess = demo.spawn(cmd, args, demo.env);
  say(`   $ hsm-bridge run --config ${demo.dir}/tedge.toml`);
  await localOps.waitForOutput(/tedge-mapper-bridge-c8y\/status\/health \{"status":"up"\}/, 60_000);
  say('   health: te/device/main/service/tedge-mapper-bridge-c8y/status/health {"status":"up"}');
  const service = await viewer.waitForOutput(/^s\/us (102,.*)$/m, 30_000);
  say(`   cloud received the service message on s/us: ${service[1]}`);
  watch(demo, viewer, localOps);
  return bridgeProcess;
}

function cloudViewer(demo: Demo, port: number): TestProcess {
  return demo.spawn("mosquitto_sub", [...cloudClient(demo, port), "-t", "s/us", "-v"]);
}

/** mosquitto_pub / mosquitto_sub options for the cloud broker (TLS, the viewer's certificate). */
function cloudClient(demo: Demo, port: number): string[] {
  const d = demo.dir;
  return [
    ...["-h", "127.0.0.1", "-p", String(port), "--cafile", `${d}/ca.pem`],
    ...["--cert", `${d}/viewer.pem`, "--key", `${d}/viewer.key`],
  ];
}

/** Prints each message as it arrives on the far side. */
function watch(demo: Demo, viewer: TestProcess, local: TestProcess): void {
  let seenUp = viewer.output.length;
  let seenDown = local.output.length;
  const timer = setInterval(() => {
    for (const line of viewer.output.slice(seenUp).split("\n")) {
      const m = /^s\/us (200,.*)$/.exec(line);
      if (m) {
        demo.crossedUp++;
        say(`   cloud  <= s/us      ${m[1]}`);
      }
    }
    seenUp = viewer.output.lastIndexOf("\n") + 1;
    for (const line of local.output.slice(seenDown).split("\n")) {
      const m = /^c8y\/s\/ds (.*)$/.exec(line);
      if (m) {
        demo.crossedDown++;
        say(`   device <= c8y/s/ds  ${m[1]}`);
      }
    }
    seenDown = local.output.lastIndexOf("\n") + 1;
  }, 100);
  viewer.exited.finally(() => clearInterval(timer));
}

async function traffic(
  demo: Demo,
  ports: { local: number; cloud: number },
  durationMs: number | undefined,
  stop: AbortSignal,
): Promise<void> {
  step(7, "Messages cross: device measurements up, a cloud operation down (Ctrl-C to stop)");
  const start = Date.now();
  for (let i = 1; !stop.aborted; i++) {
    if (durationMs !== undefined && Date.now() - start >= durationMs) break;
    const temperature = (20 + 3 * Math.sin(i / 3)).toFixed(1);
    const line = `200,c8y_Temperature,T,${temperature}`;
    say(`   device => c8y/s/us  ${line}`);
    await runProcess("mosquitto_pub", [
      "-p",
      String(ports.local),
      "-q",
      "1",
      "-t",
      "c8y/s/us",
      "-m",
      line,
    ]);
    if (i % 3 === 0) {
      const op = `510,${DEVICE_ID}`;
      say(`   cloud  => s/ds      ${op}   (a restart operation)`);
      await runProcess("mosquitto_pub", [
        ...cloudClient(demo, ports.cloud),
        ...["-q", "1", "-t", "s/ds", "-m", op],
      ]);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  await new Promise((r) => setTimeout(r, 500));
}

async function main(): Promise<number> {
  const durationSeconds = parseDuration(Deno.args);
  const dir = await Deno.makeTempDir({ prefix: "hsm-bridge-demo-" });
  const demo = new Demo(dir);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  say(`hsm-bridge demo: sandbox ${dir}`);
  let code = 0;
  try {
    await token(demo);
    await certificates(demo);
    const { local, cloud } = await brokers(demo);
    const ports = { local: local.port, cloud: cloud.port };
    await configure(demo, ports);
    const bridgeProcess = await bridge(demo, ports);
    await traffic(demo, ports, durationSeconds && durationSeconds * 1000, stop.signal);
    step(8, "Stopping hsm-bridge (SIGTERM: health down, clean disconnect)");
    // A Ctrl-C in a terminal reaches the whole process group: hsm-bridge is already stopping
    // then, and a second signal would cut its clean shutdown short.
    if (stop.signal.aborted) {
      await Promise.race([bridgeProcess.exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    const status = await bridgeProcess.stop("SIGTERM", 10_000);
    say(`   hsm-bridge exited with code ${status.code}`);
    const logLines = bridgeProcess.output.split("\n").filter((l) =>
      /Connected to|Health|counters|stopped/.test(l)
    );
    say(indent(logLines.join("\n")));
    say(
      `\nDone: ${demo.crossedUp} measurements reached the cloud and ${demo.crossedDown} ` +
        "operations reached the device, authenticated by a key that never left the token.",
    );
    // A timed run must show both directions (an operation is sent every third second);
    // Ctrl-C may come at any moment.
    const timedOut = !stop.signal.aborted && durationSeconds !== undefined;
    if (timedOut && (demo.crossedUp === 0 || (durationSeconds >= 4 && demo.crossedDown === 0))) {
      code = 1;
    }
  } catch (e) {
    console.error(`demo failed: ${(e as Error).message}`);
    code = 1;
  } finally {
    await demo.cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    say(`Cleaned up: processes stopped, ${dir} removed.`);
  }
  return code;
}

if (import.meta.main) Deno.exit(await main());
