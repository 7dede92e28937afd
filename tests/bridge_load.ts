/**
 * The "no message lost" load run shared by the delivery tests: N QoS 1 messages published
 * locally, something disruptive done midway, and every message counted at a cloud subscriber
 * (a persistent session, so that it misses nothing while the cloud broker restarts).
 */
import type { MqttClient } from "mqtt";
import type { BridgeEnv } from "./bridge_fixture.ts";

export const LOAD_TOPIC_LOCAL = "c8y/measurement/measurements/create/load";
export const LOAD_TOPIC_CLOUD = "measurement/measurements/create/load";

export interface LoadResult {
  sent: number;
  unique: number;
  duplicates: number;
  missing: number[];
  seconds: number;
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
  disrupt: () => Promise<void>,
  { n = 10_000, window = 500, timeoutMs = 90_000 } = {},
): Promise<LoadResult> {
  const publisher = await env.localClient("load-publisher", {
    clean: false,
    reconnectPeriod: 200,
  });
  publisher.on("error", () => {});
  const started = Date.now();
  let disruption: Promise<void> | undefined;
  try {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < n; i++) {
      if (i === Math.floor(n / 2)) disruption = disrupt();
      const p = publisher.publishAsync(LOAD_TOPIC_LOCAL, String(i), { qos: 1 });
      inFlight.add(p);
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
  };
}

export function describeLoad(what: string, r: LoadResult): string {
  return `${what}: ${r.sent} sent, ${r.unique} received, ${r.duplicates} duplicates, ` +
    `${r.missing.length} missing${
      r.missing.length ? ` (first: ${r.missing.slice(0, 10).join(", ")})` : ""
    }, ${r.seconds.toFixed(1)} s`;
}
