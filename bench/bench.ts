/**
 * `deno task bench`: hsm-bridge against mosquitto's own bridge and a direct connection, on
 * brokers this script starts on loopback. See bench/README.md for what is measured and why.
 *
 *   deno task bench                          full run (3 rounds), writes bench/results.json
 *   deno task bench --quick                  1 round, fewer messages (development)
 *   deno task bench --only out|in|transfer|handshake|startup|outbox[,...]   (memory = startup)
 *   deno task bench --only outage [--outage-minutes 10] [--outage-messages 100000]
 *   deno task bench --subjects hsm-token,mosquitto[,...]   --rounds N   --profile   --out FILE
 *   deno task bench --bridge-flags "--v8-flags=..." --bridge-env MALLOC_ARENA_MAX=2   (diagnosis)
 *
 * Progress goes to stderr; the tables go to stdout.
 */
import denoJson from "../deno.json" with { type: "json" };
import { run } from "../tests/helpers/process.ts";
import { checkInterrupted, cleanupAll, installSignalHandlers, onCleanup } from "./cleanup.ts";
import { runHandshakes } from "./handshake.ts";
import { type OutageSample, runOutages } from "./outage.ts";
import { runOutboxBench, summariseOutbox } from "./outbox.ts";
import { cpuCount } from "./proc.ts";
import {
  loadGeneratorChecks,
  type Results,
  summariseHandshake,
  summariseStartup,
  summariseTransfer,
  targets,
} from "./results.ts";
import { ALL_SUBJECTS, BenchEnv, hsmBridgeRunAvailable, type Subject, SUBJECTS } from "./rig.ts";
import { runStartup } from "./startup.ts";
import { formatResults } from "./table.ts";
import { type Direction, emptySamples, runTransfer, type TransferConfig } from "./transfer.ts";

const SECTIONS = ["out", "in", "handshake", "startup", "outbox"] as const;
/** Sections run only when named: "outage" takes twice the outage (20 minutes by default). */
const EXTRA_SECTIONS = ["outage"] as const;
type Section = typeof SECTIONS[number] | typeof EXTRA_SECTIONS[number];
const BENCH_DIR = new URL(".", import.meta.url).pathname;

const USAGE = `Usage: deno task bench [--quick] [--only SECTION[,SECTION]] [--subjects S[,S]]
                       [--rounds N] [--profile] [--out FILE]
                       [--bridge-flags "DENO RUN FLAGS"] [--bridge-env NAME=VALUE[,...]]
                       [--local-broker "CONFIG LINE[;CONFIG LINE]"]
                       [--outage-minutes N] [--outage-messages N]
  SECTION: ${SECTIONS.join(", ")} (transfer = out,in; memory = startup); only when named: ${
  EXTRA_SECTIONS.join(", ")
} (issue 14's
           outage scenario: N messages, 100000, over N minutes, 10, twice)
  S:       ${SUBJECTS.join(", ")} (default), ${ALL_SUBJECTS.slice(SUBJECTS.length).join(", ")}
  --profile  write V8 CPU profiles of hsm-bridge to bench/profiles/ (summarise them with
             deno run -A bench/profile.ts bench/profiles)
  --bridge-flags, --bridge-env  run hsm-bridge with more deno flags / environment (diagnosis;
             the results then go to bench/results-partial.json)
  --local-broker  more lines for the local brokers' configuration (diagnosis, e.g.
             "max_inflight_messages 100"; also the mosquitto bridge's broker)`;

interface Options {
  quick: boolean;
  sections: Section[];
  subjects: Subject[];
  rounds: number;
  profile: boolean;
  out: string;
  partial: boolean;
  bridgeFlags: string[];
  bridgeEnv: Record<string, string>;
  localBroker: string[];
  outageMinutes: number;
  outageMessages: number;
}

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

function parseArgs(args: string[]): Options {
  const o = {
    quick: false,
    profile: false,
    bridgeFlags: [] as string[],
    bridgeEnv: {} as Record<string, string>,
    localBroker: [] as string[],
    outageMinutes: 10,
    outageMessages: 100_000,
  } as Options;
  let sections: string[] = [...SECTIONS];
  let subjects: string[] = [...SUBJECTS];
  let rounds: number | undefined;
  let out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => args[++i] ?? usageError(`Missing value after ${a}`);
    if (a === "--quick") o.quick = true;
    else if (a === "--profile") o.profile = true;
    else if (a === "--only") {
      sections = value().split(",").flatMap((s) =>
        s === "transfer" ? ["out", "in"] : s === "memory" ? ["startup"] : [s]
      );
    } else if (a === "--subjects") subjects = value().split(",");
    else if (a === "--rounds") rounds = Number(value());
    else if (a === "--out") out = value();
    else if (a === "--local-broker") o.localBroker = value().split(";").map((l) => l.trim());
    else if (a === "--outage-minutes") o.outageMinutes = Number(value());
    else if (a === "--outage-messages") o.outageMessages = Number(value());
    else if (a === "--bridge-flags") o.bridgeFlags = value().split(/\s+/).filter(Boolean);
    else if (a === "--bridge-env") {
      for (const kv of value().split(",")) {
        const at = kv.indexOf("=");
        if (at < 1) usageError(`Invalid --bridge-env "${kv}": expected NAME=VALUE`);
        o.bridgeEnv[kv.slice(0, at)] = kv.slice(at + 1);
      }
    } else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    } else usageError(`Unknown option "${a}"`);
  }
  for (const s of sections) {
    if (![...SECTIONS, ...EXTRA_SECTIONS].includes(s as Section)) {
      usageError(`Unknown section "${s}"`);
    }
  }
  if (!(o.outageMinutes > 0) || !(Number.isInteger(o.outageMessages) && o.outageMessages > 0)) {
    usageError("Invalid --outage-minutes or --outage-messages: expected positive numbers");
  }
  for (const s of subjects) {
    if (!ALL_SUBJECTS.includes(s as Subject)) usageError(`Unknown subject "${s}"`);
  }
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) {
    usageError(`Invalid --rounds "${rounds}": expected a positive integer`);
  }
  o.sections = sections as Section[];
  o.subjects = subjects as Subject[];
  o.rounds = rounds ?? (o.quick ? 1 : 3);
  // Only a full run replaces the committed bench/results.json.
  o.partial = o.quick || SECTIONS.some((s) => !sections.includes(s)) ||
    sections.some((s) => EXTRA_SECTIONS.includes(s as typeof EXTRA_SECTIONS[number])) ||
    SUBJECTS.some((s) => !subjects.includes(s)) ||
    o.rounds < 3 || o.profile || o.bridgeFlags.length > 0 || Object.keys(o.bridgeEnv).length > 0 ||
    o.localBroker.length > 0;
  o.out = out ?? `${BENCH_DIR}${o.partial ? "results-partial.json" : "results.json"}`;
  return o;
}

function transferConfig(o: Options, directions: Direction[]): TransferConfig {
  return {
    rounds: o.rounds,
    sizes: [100, 4096],
    messages: o.quick ? { 100: 5_000, 4096: 2_000 } : { 100: 30_000, 4096: 10_000 },
    window: { 100: 500, 4096: 200 },
    latencyMessages: o.quick ? 300 : 1_000,
    latencyRate: 200,
    warmupMessages: o.quick ? 500 : 2_000,
    directions,
    cpuProfileDir: o.profile ? `${BENCH_DIR}profiles` : undefined,
    bridgeDenoFlags: o.bridgeFlags,
    bridgeEnv: o.bridgeEnv,
    localBrokerExtra: o.localBroker,
  };
}

async function versions(): Promise<Record<string, string>> {
  const mosq = await run("mosquitto", ["-h"], { allowFailure: true });
  const openssl = await run("openssl", ["version"], { allowFailure: true });
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    mosquitto: /version (\S+)/.exec(mosq.stdout + mosq.stderr)?.[1] ?? "unknown",
    openssl: openssl.stdout.trim(),
    hsmBridge: denoJson.version,
  };
}

async function main(): Promise<number> {
  const o = parseArgs(Deno.args);
  const progress = (line: string) => console.error(line);
  const started = performance.now();
  const loadStart = Deno.loadavg();
  installSignalHandlers();
  const tmp = await Deno.makeTempDir({ prefix: "hsm-bridge-bench-" });
  onCleanup(`temp dir ${tmp}`, () => Deno.remove(tmp, { recursive: true }));
  try {
    progress(`setting up PKI and SoftHSM token in ${tmp} ...`);
    const env = await BenchEnv.create(tmp);
    const avail = await hsmBridgeRunAvailable();
    let subjects = o.subjects;
    if (!avail.ok) {
      progress(`hsm-bridge run is not available, measuring the others only: ${avail.why}`);
      subjects = subjects.filter((s) => !s.startsWith("hsm-"));
    }
    const r: Results = {
      generatedAt: new Date().toISOString(),
      durationSeconds: 0,
      machine: {
        cpus: cpuCount(),
        loadAverageStart: loadStart,
        loadAverageEnd: [],
        kernel: Deno.osRelease(),
      },
      versions: await versions(),
      options: { ...o, out: undefined, subjects },
      hsmBridgeRun: { available: avail.ok, note: avail.ok ? "measured" : avail.why },
      loadGeneratorChecks: [],
      targets: [],
      errors: [],
    };
    const directions = o.sections.filter((s): s is Direction => s === "out" || s === "in");
    if (directions.length) {
      const cfg = transferConfig(o, directions);
      r.transferConfig = cfg;
      progress(`== sections 1-2: ${directions.join(", ")} for ${subjects.join(", ")}`);
      const samples = emptySamples();
      await runTransfer(env, subjects, cfg, samples, tmp, progress);
      Object.assign(r, summariseTransfer(samples));
      r.errors.push(...samples.errors);
    }
    if (o.sections.includes("handshake")) {
      checkInterrupted();
      progress("== section 3: TLS handshakes");
      const h = await runHandshakes(
        env,
        {
          count: o.quick ? 20 : 50,
          warmup: 5,
          sTimeRuns: o.quick ? 1 : 3,
          sTimeSeconds: 2,
        },
        tmp,
        progress,
      );
      r.handshake = summariseHandshake(h);
      r.errors.push(...h.errors);
    }
    if (o.sections.includes("startup")) {
      checkInterrupted();
      progress("== section 4: start-up and memory");
      const s = await runStartup(
        env,
        subjects.filter((x) => x !== "direct"),
        o.rounds,
        o.quick ? 10 : 40,
        { messages: o.quick ? 5_000 : 20_000, size: 100, window: 500 },
        tmp,
        progress,
        { denoFlags: o.bridgeFlags, env: o.bridgeEnv, localBrokerExtra: o.localBroker },
      );
      r.startup = summariseStartup(s);
      r.errors.push(...s.errors);
    }
    if (o.sections.includes("outbox")) {
      checkInterrupted();
      progress("== section 5: store-and-forward outbox (hsm-token)");
      const cfg = transferConfig(o, ["out"]);
      const s = await runOutboxBench(
        env,
        {
          rounds: o.rounds,
          transfer: cfg,
          drainMessages: o.quick ? 20_000 : 100_000,
          drainPayloadBytes: 100,
        },
        tmp,
        progress,
      );
      r.outbox = summariseOutbox(s);
      r.errors.push(...s.errors);
    }
    if (o.sections.includes("outage")) {
      checkInterrupted();
      const s = await runOutages(
        { minutes: o.outageMinutes, messages: o.outageMessages },
        progress,
      );
      r.outage = s.samples satisfies OutageSample[];
      r.errors.push(...s.errors);
    }
    r.machine.loadAverageEnd = Deno.loadavg();
    r.durationSeconds = Math.round((performance.now() - started) / 1000);
    r.loadGeneratorChecks = loadGeneratorChecks(r);
    r.targets = targets(r);
    await Deno.writeTextFile(o.out, JSON.stringify(r, null, 2) + "\n");
    console.log(formatResults(r));
    console.log(`\nresults written to ${o.out} (${r.durationSeconds} s)`);
    return r.errors.length ? 1 : 0;
  } finally {
    await cleanupAll();
  }
}

if (import.meta.main) Deno.exit(await main());
