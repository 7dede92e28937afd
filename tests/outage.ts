/**
 * The cloud outage scenario of issue 14, shared by tests/outbox_run_test.ts and the bench's
 * outage mode: `hsm-bridge run` (a separate process) between a local mosquitto with a device's
 * default queue and the cloud broker.
 *
 * 1. The bridge is up; the cloud broker stops.
 * 2. N QoS 1 messages are published locally at a fixed rate (payload = index), while the
 *    bridge is SIGKILLed and started again `killsDuringOutage` times.
 * 3. Once the outbox holds them all, the cloud broker comes back and the backlog drains to a
 *    cloud subscriber (persistent session), while the bridge is SIGKILLed `killsDuringDrain`
 *    times.
 * 4. The subscriber's view decides: every index received, and the first arrival of each index
 *    in publishing order (duplicates are counted, and allowed).
 */
import type { MqttClient } from "mqtt";
import { type BridgeEnv, eventually, type RunDevice, sleep } from "./bridge_fixture.ts";
import { LOAD_TOPIC_CLOUD, LOAD_TOPIC_LOCAL } from "./bridge_load.ts";
import type { TestProcess } from "./helpers/process.ts";

export interface OutageOptions {
  messages: number;
  ratePerSec: number;
  killsDuringOutage?: number;
  killsDuringDrain?: number;
  /** Payload bytes (at least the index's digits; padded with spaces). Default: the index. */
  payloadBytes?: number;
  /** Progress lines. */
  progress?: (line: string) => void;
  /** Time allowed for the drain. Default 120 s. */
  drainTimeoutMs?: number;
}

export interface OutageResult {
  sent: number;
  unique: number;
  duplicates: number;
  missing: number[];
  /** Indexes whose first arrival came after a higher index's first arrival. */
  outOfOrder: number;
  publishSeconds: number;
  /** The outbox depth the bridge reported once everything was published. */
  storedDepth: number;
  /** From the cloud's return to the last message at the subscriber. */
  drainSeconds: number;
  /** From the first to the last message at the subscriber after the return. */
  drainRate: number;
  /** From SIGKILL to the new process's "Connected to the local broker", ms. */
  restartMs: number[];
  /** The local broker said it dropped messages for a client (its queue overflowed). */
  localBrokerDropped: boolean;
  /** The last bridge process (still running: stop it). */
  bridge: TestProcess;
}

/** A cloud subscriber (persistent session, reconnecting) that records arrival order. */
export async function orderedSink(env: BridgeEnv): Promise<{
  client: MqttClient;
  counts: Map<number, number>;
  order: number[];
  lastAt: () => number;
  firstAt: () => number | undefined;
}> {
  const client = await env.cloudClient("outage-sink", { clean: false, reconnectPeriod: 100 });
  const counts = new Map<number, number>();
  const order: number[] = [];
  let first: number | undefined;
  let last = 0;
  client.on("message", (_topic, payload) => {
    const i = Number(payload.toString());
    const seen = counts.get(i) ?? 0;
    if (seen === 0) order.push(i);
    counts.set(i, seen + 1);
    last = performance.now();
    first ??= last;
  });
  client.on("error", () => {});
  await client.subscribeAsync(LOAD_TOPIC_CLOUD, { qos: 1 });
  return { client, counts, order, lastAt: () => last, firstAt: () => first };
}

/** How many first arrivals came after a higher index had arrived. */
export function outOfOrder(order: readonly number[]): number {
  let max = -1;
  let n = 0;
  for (const i of order) {
    if (i < max) n++;
    else max = i;
  }
  return n;
}

/** The last `outbox_depth=` of the bridge's stats lines. */
export function lastDepth(bridge: TestProcess): number | undefined {
  const all = [...bridge.output.matchAll(/outbox_depth=(\d+)/g)];
  return all.length ? Number(all.at(-1)![1]) : undefined;
}

/** SIGKILLs the bridge and starts it again; resolves once it is connected to the local broker. */
async function killAndRestart(
  device: RunDevice,
  bridge: TestProcess,
): Promise<{ bridge: TestProcess; ms: number }> {
  await bridge.stop("SIGKILL");
  const t0 = performance.now();
  const next = device.start();
  await next.waitForOutput(/Connected to the local broker/, 30_000);
  return { bridge: next, ms: performance.now() - t0 };
}

export async function runOutage(
  env: BridgeEnv,
  device: RunDevice,
  o: OutageOptions,
): Promise<OutageResult> {
  const say = o.progress ?? (() => {});
  const sink = await orderedSink(env);
  let bridge = device.start();
  const restartMs: number[] = [];
  const publisher = await env.localClient("outage-publisher");
  try {
    await bridge.waitForOutput(/Health up/, 30_000);
    // 1. The cloud goes away.
    await env.cloud.stop("SIGTERM");
    await bridge.waitForOutput(/Disconnected from the cloud broker/, 10_000);
    say(`cloud down; publishing ${o.messages} messages at ${o.ratePerSec}/s`);
    // 2. Publishing at a fixed rate, with kills at even intervals.
    const killsAt = spread(o.killsDuringOutage ?? 0, o.messages);
    const t0 = performance.now();
    const acks: Promise<unknown>[] = [];
    let reported = 0;
    for (let i = 0; i < o.messages;) {
      const due = Math.min(o.messages, Math.floor((performance.now() - t0) * o.ratePerSec / 1000));
      for (; i < due; i++) {
        acks.push(publisher.publishAsync(LOAD_TOPIC_LOCAL, payload(i, o.payloadBytes), { qos: 1 }));
        if (killsAt.includes(i)) {
          // Not awaited: publishing goes on while the bridge is down.
          const killed = killAndRestart(device, bridge).then((r) => {
            bridge = r.bridge;
            restartMs.push(r.ms);
            say(`bridge SIGKILLed at message ${i}, connected again after ${r.ms.toFixed(0)} ms`);
          });
          acks.push(killed);
        }
      }
      await sleep(5);
      if (i - reported >= 10_000) say(`  ${reported = i} published`);
    }
    await Promise.all(acks);
    const publishSeconds = (performance.now() - t0) / 1000;
    // Everything is stored once the reported depth reaches N (duplicates can exceed it).
    await eventually(
      () => (lastDepth(bridge) ?? 0) >= o.messages,
      `the outbox to hold ${o.messages} messages (last depth ${lastDepth(bridge)})`,
      30_000,
    ).catch((e) => say((e as Error).message));
    const storedDepth = lastDepth(bridge) ?? 0;
    say(`published in ${publishSeconds.toFixed(1)} s; outbox depth ${storedDepth}`);
    // 3. The cloud comes back.
    const back = performance.now();
    await env.cloud.restart();
    const drainKills = spread(o.killsDuringDrain ?? 0, o.messages);
    for (const at of drainKills) {
      await eventually(() => sink.counts.size >= at, `${at} messages at the cloud`, 60_000);
      const r = await killAndRestart(device, bridge);
      bridge = r.bridge;
      restartMs.push(r.ms);
      say(`bridge SIGKILLed during the drain at ${sink.counts.size} received`);
    }
    await eventually(
      () => sink.counts.size >= o.messages,
      `all ${o.messages} messages at the cloud (have ${sink.counts.size})`,
      o.drainTimeoutMs ?? 120_000,
    ).catch((e) => say((e as Error).message));
    const drainSeconds = (sink.lastAt() - back) / 1000;
    const drainRate = sink.counts.size / ((sink.lastAt() - (sink.firstAt() ?? back)) / 1000);
    let total = 0;
    for (const c of sink.counts.values()) total += c;
    const missing: number[] = [];
    for (let i = 0; i < o.messages; i++) if (!sink.counts.has(i)) missing.push(i);
    return {
      sent: o.messages,
      unique: sink.counts.size,
      duplicates: total - sink.counts.size,
      missing,
      outOfOrder: outOfOrder(sink.order),
      publishSeconds,
      storedDepth,
      drainSeconds,
      drainRate,
      restartMs,
      localBrokerDropped: /dropped/i.test(env.local.log),
      bridge,
    };
  } catch (e) {
    await bridge.stop("SIGKILL");
    throw e;
  } finally {
    await Promise.all([sink.client.endAsync(true), publisher.endAsync(true)]);
  }
}

/** `k` message indexes spread evenly over `n` (none at the very start or end). */
function spread(k: number, n: number): number[] {
  return Array.from({ length: k }, (_, j) => Math.floor(n * (j + 1) / (k + 1)));
}

function payload(i: number, bytes = 0): string {
  const s = String(i);
  return bytes > s.length ? s.padEnd(bytes, " ") : s;
}

export function describeOutage(what: string, r: OutageResult): string {
  return `${what}: ${r.sent} sent, ${r.unique} received, ${r.duplicates} duplicates, ` +
    `${r.missing.length} missing${
      r.missing.length ? ` (first: ${r.missing.slice(0, 10).join(", ")})` : ""
    }, ${r.outOfOrder} out of order; stored ${r.storedDepth}; published in ` +
    `${r.publishSeconds.toFixed(1)} s, drained in ${r.drainSeconds.toFixed(1)} s ` +
    `(${Math.round(r.drainRate)} msg/s)` +
    (r.restartMs.length
      ? `; restarts connected after ${r.restartMs.map((m) => m.toFixed(0)).join(", ")} ms`
      : "") +
    (r.localBrokerDropped ? "; THE LOCAL BROKER DROPPED MESSAGES" : "");
}
