/**
 * The smallest program that does what hsm-bridge's MQTT side does, for bench/floor.ts: two
 * mqtt.js clients (MQTT 3.1.1, `writeCache: false` as src/mqtt) over node:net to one local
 * mosquitto, one publishing QoS 1, the other subscribed. No TLS, no PKCS#11, no config, no
 * outbox. Driven over stdin, one command a line:
 *
 *   (start)   -> "up"           both clients connected and subscribed
 *   "burst N" -> "done N"       N x 100 B QoS 1 published and all of them received
 *   "release K" -> "released K" what `run` does when idle: a last-resort GC, malloc_trim(0)
 *
 * Usage: deno run -A <the compile task's --v8-flags> bench/floor_child.ts PORT [--bare]
 * With --bare nothing is imported or connected (the runtime alone): "up" comes at once.
 */
import { Buffer } from "node:buffer";

const [portArg, mode] = Deno.args;
const bare = mode === "--bare";

function say(line: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
}

function release(): void {
  const gc = (globalThis as { gc?: (options: Record<string, string>) => void }).gc;
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    libc.symbols.malloc_trim(0n);
    libc.close();
  } catch {
    // not glibc: skipped, as in run
  }
}

let burst: (n: number) => Promise<void> = () => Promise.resolve();

if (!bare) {
  const { default: mqtt } = await import("mqtt");
  const options = {
    host: "127.0.0.1",
    port: Number(portArg),
    protocolVersion: 4 as const,
    writeCache: false,
    reconnectPeriod: 0,
  };
  const connected = (c: ReturnType<typeof mqtt.connect>) =>
    new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("error", reject);
    });
  const publisher = mqtt.connect({ ...options, clientId: "floor-pub" });
  const subscriber = mqtt.connect({ ...options, clientId: "floor-sub" });
  await Promise.all([connected(publisher), connected(subscriber)]);
  await subscriber.subscribeAsync("floor/#", { qos: 1 });
  let received = 0;
  let wanted = 0;
  let onAll = () => {};
  subscriber.on("message", () => {
    if (++received === wanted) onAll();
  });
  const payload = Buffer.alloc(100);
  burst = (n) =>
    new Promise<void>((resolve) => {
      received = 0;
      wanted = n;
      onAll = resolve;
      // A window of 500 in flight, as the bench's bursts.
      let sent = 0;
      const more = () => {
        while (sent < n && sent - received < 500) {
          sent++;
          publisher.publish("floor/m", payload, { qos: 1 }, () => more());
        }
      };
      more();
    });
}
say("up");

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
for await (const chunk of lines) {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const [command, arg] = pending.slice(0, nl).trim().split(" ");
    pending = pending.slice(nl + 1);
    if (command === "burst") {
      await burst(Number(arg));
      say(`done ${arg}`);
    } else if (command === "release") {
      release();
      say(`released ${arg}`);
    }
  }
}
Deno.exit(0);
