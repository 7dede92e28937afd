/**
 * The load generator: one publisher and one subscriber (QoS 1 both) in this process, so the
 * send timestamp in each payload and the receive time come from the same clock.
 *
 * Payload layout (little endian): [0..8) float64 performance.now() at send, [8..12) u32
 * sequence number, [12..16) u32 run tag (messages of an earlier run or a probe are told apart),
 * then zero padding up to the payload size.
 *
 * Two kinds of run:
 *   throughput: N messages, at most `window` sent but not yet received by the subscriber (and
 *               at most `window` not yet PUBACKed by the first broker): a closed loop that keeps
 *               the path busy with bounded queues. Rate = N / (first send .. last receive).
 *   latency:    N messages at a fixed rate well below saturation (open loop), so the
 *               percentiles show the path's own delay, not queueing behind earlier messages.
 */
import { type Endpoint, PublishTemplate, WireClient, withTimeout } from "./mqtt_wire.ts";
import { percentile } from "./stats.ts";

export interface Path {
  pub: Endpoint;
  pubTopic: string;
  sub: Endpoint;
  subTopic: string;
}

export interface ThroughputResult {
  messages: number;
  received: number;
  duplicates: number;
  seconds: number;
  msgsPerSec: number;
  /** Latency under full load (includes queueing), milliseconds. */
  loadedP50Ms: number;
  loadedP99Ms: number;
}

export interface LatencyResult {
  messages: number;
  received: number;
  ratePerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const HEADER = 16;
const PROBE_TAG = 0xffff_ffff;
let clientCounter = 0;

interface RunState {
  tag: number;
  n: number;
  seen: Uint8Array;
  latencies: Float64Array;
  received: number;
  duplicates: number;
  lastReceive: number;
  onProgress: () => void;
}

export class LoadPath {
  #run?: RunState;
  #probeSeen = false;
  #nextTag = 1;
  #nextId = 0;
  #acked = 0;
  #onAck: () => void = () => {};
  strays = 0;

  private constructor(
    readonly path: Path,
    private readonly pub: WireClient,
    private readonly sub: WireClient,
  ) {
    sub.onMessage = (payload) => this.#received(payload);
    pub.onPuback = () => {
      this.#acked++;
      this.#onAck();
    };
  }

  /** Connects the subscriber (and subscribes) and the publisher. */
  static async open(path: Path, label: string): Promise<LoadPath> {
    const id = `bench-${label}-${Deno.pid}-${++clientCounter}`;
    const sub = await WireClient.connect(path.sub, `${id}-sub`);
    try {
      await sub.subscribe(path.subTopic, 1);
      const pub = await WireClient.connect(path.pub, `${id}-pub`);
      return new LoadPath(path, pub, sub);
    } catch (e) {
      await sub.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pub.close(), this.sub.close()]);
  }

  #received(payload: Uint8Array): void {
    const now = performance.now();
    if (payload.length < HEADER) return;
    const view = new DataView(payload.buffer, payload.byteOffset, HEADER);
    const tag = view.getUint32(12, true);
    const run = this.#run;
    if (tag === PROBE_TAG) {
      this.#probeSeen = true;
      return;
    }
    if (!run || tag !== run.tag) {
      this.strays++;
      return;
    }
    const seq = view.getUint32(8, true);
    if (seq >= run.n) return;
    if (run.seen[seq]) {
      run.duplicates++;
      return;
    }
    run.seen[seq] = 1;
    run.latencies[run.received++] = now - view.getFloat64(0, true);
    run.lastReceive = now;
    run.onProgress();
  }

  #publish(tpl: PublishTemplate, seq: number, tag: number): void {
    this.#nextId = (this.#nextId % 65535) + 1;
    const { packet, payload } = tpl.build(this.#nextId);
    const view = new DataView(payload.buffer, payload.byteOffset, HEADER);
    view.setUint32(8, seq, true);
    view.setUint32(12, tag, true);
    view.setFloat64(0, performance.now(), true);
    this.pub.send(packet);
  }

  #checkAlive(): void {
    for (const c of [this.pub, this.sub]) {
      if (c.error) throw new Error(`Load client ${c.name} lost its connection: ${c.error}`);
    }
  }

  /** Publishes probe messages until one reaches the subscriber (the path is ready). */
  async probe(timeoutMs = 60_000): Promise<void> {
    const tpl = new PublishTemplate(this.path.pubTopic, 1, HEADER);
    this.#probeSeen = false;
    const deadline = Date.now() + timeoutMs;
    while (!this.#probeSeen) {
      this.#checkAlive();
      if (Date.now() > deadline) {
        throw new Error(`No probe message crossed ${this.path.pubTopic} -> ${this.path.subTopic}`);
      }
      this.#publish(tpl, 0, PROBE_TAG);
      for (let i = 0; i < 10 && !this.#probeSeen; i++) await sleep(25);
    }
    await sleep(100); // let late probe copies arrive before a run starts
  }

  #newRun(n: number): RunState {
    const run: RunState = {
      tag: this.#nextTag++,
      n,
      seen: new Uint8Array(n),
      latencies: new Float64Array(n),
      received: 0,
      duplicates: 0,
      lastReceive: 0,
      onProgress: () => {},
    };
    this.#run = run;
    return run;
  }

  async #waitFor(run: RunState, timeoutMs: number, what: string): Promise<void> {
    const finished = new Promise<void>((resolve) => {
      const previous = run.onProgress;
      run.onProgress = () => {
        previous();
        if (run.received >= run.n) resolve();
      };
      if (run.received >= run.n) resolve();
    });
    const watchdog = setInterval(() => {
      try {
        this.#checkAlive();
      } catch (e) {
        console.error(String(e));
      }
    }, 1_000);
    try {
      await withTimeout(finished, timeoutMs, `${what}: ${run.received} of ${run.n} received`);
    } finally {
      clearInterval(watchdog);
    }
  }

  /** Closed-loop run: at most `window` messages in flight end to end. */
  async throughput(
    { n, size, window, timeoutMs = 120_000 }: {
      n: number;
      size: number;
      window: number;
      timeoutMs?: number;
    },
  ): Promise<ThroughputResult> {
    this.#checkAlive();
    const tpl = new PublishTemplate(this.path.pubTopic, 1, Math.max(size, HEADER));
    const run = this.#newRun(n);
    const ackedAtStart = this.#acked;
    let sent = 0;
    const pump = () => {
      while (
        sent < n && sent - run.received < window && sent - (this.#acked - ackedAtStart) < window
      ) {
        this.#publish(tpl, sent++, run.tag);
      }
    };
    run.onProgress = pump;
    this.#onAck = pump;
    const started = performance.now();
    pump();
    try {
      await this.#waitFor(run, timeoutMs, `throughput run of ${n} x ${size} B`);
    } finally {
      this.#onAck = () => {};
      run.onProgress = () => {};
    }
    await this.#settleAcks(ackedAtStart + sent);
    const seconds = (run.lastReceive - started) / 1000;
    return {
      messages: n,
      received: run.received,
      duplicates: run.duplicates,
      seconds,
      msgsPerSec: run.received / seconds,
      loadedP50Ms: percentile(run.latencies.subarray(0, run.received), 50),
      loadedP99Ms: percentile(run.latencies.subarray(0, run.received), 99),
    };
  }

  /** Open-loop run at `rate` messages per second. */
  async latency(
    { n, size, rate, timeoutMs = 60_000 }: {
      n: number;
      size: number;
      rate: number;
      timeoutMs?: number;
    },
  ): Promise<LatencyResult> {
    this.#checkAlive();
    const tpl = new PublishTemplate(this.path.pubTopic, 1, Math.max(size, HEADER));
    const run = this.#newRun(n);
    const ackedAtStart = this.#acked;
    const intervalMs = 1000 / rate;
    const started = performance.now();
    let sent = 0;
    let lastSend = started;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      const now = performance.now();
      while (sent < n && started + sent * intervalMs <= now) {
        this.#publish(tpl, sent++, run.tag);
        lastSend = now;
      }
      if (sent < n) {
        timer = setTimeout(tick, Math.max(0, started + sent * intervalMs - performance.now()));
      }
    };
    tick();
    try {
      await this.#waitFor(run, timeoutMs + (n / rate) * 1000, `latency run at ${rate}/s`);
    } finally {
      clearTimeout(timer);
    }
    await this.#settleAcks(ackedAtStart + sent);
    const lat = run.latencies.subarray(0, run.received);
    return {
      messages: n,
      received: run.received,
      ratePerSec: n > 1 ? (n - 1) / ((lastSend - started) / 1000) : 0,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      maxMs: percentile(lat, 100),
    };
  }

  async #settleAcks(target: number): Promise<void> {
    for (let i = 0; i < 400 && this.#acked < target; i++) await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
