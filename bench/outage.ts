/**
 * Section "outage" (only with --only outage: it runs for 2 x the outage): issue 14's "done
 * means" scenario through `hsm-bridge run` with the SoftHSM key, a local mosquitto with a
 * device's defaults (max_queued_messages 1000, max_inflight_messages 20) and the cloud broker
 * down for the whole publishing time: N QoS 1 messages (100,000) over M minutes (10), then the
 * cloud returns; once as is, once with the bridge SIGKILLed twice during the outage and once
 * during the drain. The scenario itself is tests/outage.ts, which the tests run shorter.
 */
import { BridgeEnv, RunDevice } from "../tests/bridge_fixture.ts";
import { describeOutage, runOutage } from "../tests/outage.ts";
import { checkInterrupted } from "./cleanup.ts";

export interface OutageConfig {
  messages: number;
  minutes: number;
}

export interface OutageSample {
  scenario: string;
  messages: number;
  ratePerSec: number;
  received: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
  storedDepth: number;
  publishSeconds: number;
  drainSeconds: number;
  drainRate: number;
  restartMs: number[];
  localBrokerDropped: boolean;
  summary: string;
}

export async function runOutages(
  cfg: OutageConfig,
  progress: (line: string) => void,
): Promise<{ samples: OutageSample[]; errors: string[] }> {
  const samples: OutageSample[] = [];
  const errors: string[] = [];
  const ratePerSec = cfg.messages / (cfg.minutes * 60);
  for (const [scenario, kills] of [["outage", 0], ["outage with SIGKILLs", 1]] as const) {
    checkInterrupted();
    progress(`== ${scenario}: ${cfg.messages} messages over ${cfg.minutes} min`);
    try {
      await using env = await BridgeEnv.create({ cloudPersistence: true, deviceDefaults: true });
      const device = await RunDevice.create(env, "softhsm");
      const r = await runOutage(env, device, {
        messages: cfg.messages,
        ratePerSec,
        killsDuringOutage: 2 * kills,
        killsDuringDrain: kills,
        progress: (l) => progress(`  ${l}`),
        drainTimeoutMs: 600_000,
      });
      await r.bridge.stop("SIGTERM");
      const summary = describeOutage(scenario, r);
      progress(`  ${summary}`);
      samples.push({
        scenario,
        messages: r.sent,
        ratePerSec: Math.round(ratePerSec * 10) / 10,
        received: r.unique,
        duplicates: r.duplicates,
        missing: r.missing.length,
        outOfOrder: r.outOfOrder,
        storedDepth: r.storedDepth,
        publishSeconds: Math.round(r.publishSeconds),
        drainSeconds: Math.round(r.drainSeconds * 10) / 10,
        drainRate: Math.round(r.drainRate),
        restartMs: r.restartMs.map(Math.round),
        localBrokerDropped: r.localBrokerDropped,
        summary,
      });
      if (r.missing.length || r.outOfOrder) errors.push(summary);
    } catch (e) {
      errors.push(`${scenario}: ${(e as Error).message}`.slice(0, 4000));
      progress(`  FAILED: ${(e as Error).message.slice(0, 2000)}`);
    }
  }
  return { samples, errors };
}
