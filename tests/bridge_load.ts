/**
 * The "no message lost" load run shared by the delivery tests: N QoS 1 messages published
 * locally, something disruptive done midway, and every message counted at a cloud subscriber
 * (a persistent session, so that it misses nothing while the cloud broker restarts).
 */
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { type BridgeEnv, eventually } from "./bridge_fixture.ts";
import type { Mosquitto } from "./helpers/mosquitto.ts";

export const LOAD_TOPIC_LOCAL = "c8y/measurement/measurements/create/load";
export const LOAD_TOPIC_CLOUD = "measurement/measurements/create/load";

export interface LoadResult {
  sent: number;
  unique: number;
  duplicates: number;
  missing: number[];
  seconds: number;
  /** Where the stream was when the fault struck (see `LoadProgress.mark`). */
  faultAt?: FaultMark;
}

/** How far the stream had got when the fault struck. */
export interface FaultMark {
  /** Messages the local broker had acknowledged to the publisher. */
  published: number;
  /** Distinct messages the cloud subscriber had received. */
  received: number;
}

/** What `disrupt` gets: the stream's progress. */
export interface LoadProgress {
  /** Resolves once the cloud subscriber has received something. */
  flowing(): Promise<void>;
  /** Records the moment of the fault (once it has struck). */
  mark(): void;
}

/** A cloud subscriber that survives broker restarts and counts each message index. */
export async function loadSubscriber(env: BridgeEnv): Promise<{
  client: MqttClient;
  counts: Map<number, number>;
}> {
  const client = await env.cloudClient("load-subscriber", {
    clean: false,
    reconnectPeriod: 200,
  });
  const counts = new Map<number, number>();
  client.on("message", (_topic, payload) => {
    const i = Number(payload.toString());
    counts.set(i, (counts.get(i) ?? 0) + 1);
  });
  client.on("error", () => {}); // reconnects on its own
  await client.subscribeAsync(LOAD_TOPIC_CLOUD, { qos: 1 });
  return { client, counts };
}

/**
 * Publishes `n` QoS 1 messages (payload = index) with at most `window` unacked, calls
 * `disrupt()` once half are published (without waiting for it), then waits until the
 * subscriber has every index or `timeoutMs` passes.
 */
export async function runLoad(
  env: BridgeEnv,
  counts: Map<number, number>,
  disrupt: (progress: LoadProgress) => Promise<void>,
  { n = 10_000, window = 500, timeoutMs = 90_000 } = {},
): Promise<LoadResult> {
  const publisher = await env.localClient("load-publisher", {
    clean: false,
    reconnectPeriod: 200,
  });
  publisher.on("error", () => {});
  const started = Date.now();
  let disruption: Promise<void> | undefined;
  let published = 0;
  let faultAt: FaultMark | undefined;
  const progress: LoadProgress = {
    flowing: () => eventually(() => counts.size > 0, "the first message at the cloud"),
    mark: () => faultAt ??= { published, received: counts.size },
  };
  try {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < n; i++) {
      if (i === Math.floor(n / 2)) disruption = disrupt(progress);
      const p = publisher.publishAsync(LOAD_TOPIC_LOCAL, String(i), { qos: 1 });
      inFlight.add(p);
      p.then(() => published++, () => {});
      p.finally(() => inFlight.delete(p));
      if (inFlight.size >= window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await disruption;
    const deadline = started + timeoutMs;
    while (counts.size < n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await disruption?.catch(() => {});
    await publisher.endAsync().catch(() => {});
  }
  let total = 0;
  for (const c of counts.values()) total += c;
  const missing: number[] = [];
  for (let i = 0; i < n; i++) if (!counts.has(i)) missing.push(i);
  return {
    sent: n,
    unique: counts.size,
    duplicates: total - counts.size,
    missing,
    seconds: (Date.now() - started) / 1000,
    faultAt,
  };
}

/**
 * Restarts `broker` while the stream flows: once messages arrive at the cloud, stop it
 * (SIGTERM: persistence saved), mark, and start it again after `downMs`.
 */
export function restartMidStream(broker: Mosquitto, downMs = 300) {
  return async (progress: LoadProgress): Promise<void> => {
    await progress.flowing();
    await broker.stop("SIGTERM");
    progress.mark();
    await broker.restart("SIGTERM", downMs);
  };
}

/**
 * The fault struck mid-stream: after some messages had crossed and before all had (and, with
 * `publishing`, before the publisher had sent them all), so messages crossed the fault.
 */
export function assertMidStream(r: LoadResult, { publishing = false } = {}): void {
  const at = r.faultAt;
  assert.ok(at, "the fault was marked");
  const where = `fault after ${at.published} published, ${at.received} received of ${r.sent}`;
  assert.ok(at.received > 0, `${where}: some messages had crossed before it`);
  assert.ok(at.received < r.sent, `${where}: messages were still to cross`);
  if (publishing) assert.ok(at.published < r.sent, `${where}: the publisher was still going`);
}

export function describeLoad(what: string, r: LoadResult): string {
  const at = r.faultAt;
  return `${what}: ${r.sent} sent, ${r.unique} received, ${r.duplicates} duplicates, ` +
    `${r.missing.length} missing${
      r.missing.length ? ` (first: ${r.missing.slice(0, 10).join(", ")})` : ""
    }, ${r.seconds.toFixed(1)} s` +
    (at ? `; fault after ${at.published} published, ${at.received} received` : "");
}
