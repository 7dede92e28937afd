/**
 * Micro-benchmark behind a profiling finding: the cost of one TLS record's AEAD (AES-128-GCM)
 * through WebCrypto (an async op per record, what src/tls/record/record_protection.ts used) versus
 * node:crypto's synchronous createCipheriv, for record sizes the bridge sees (one small MQTT
 * packet, a 4 KiB one, a full 16 KiB record). Reports wall and process CPU time per record.
 *
 *   deno run -A bench/micro_aead.ts
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { cpuSeconds } from "./proc.ts";
import { median } from "./stats.ts";

const key = crypto.getRandomValues(new Uint8Array(16));
const nonce = crypto.getRandomValues(new Uint8Array(12));
const aad = new Uint8Array(5);
const webKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);

/** Median over 5 batches of the wall and CPU time per call (the machine is shared and noisy). */
async function measure(name: string, n: number, fn: () => Promise<unknown> | unknown) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const cpu0 = await cpuSeconds(Deno.pid);
    const t0 = performance.now();
    for (let i = 0; i < n / 5; i++) await fn();
    walls.push(((performance.now() - t0) / (n / 5)) * 1000);
    cpus.push((((await cpuSeconds(Deno.pid)) - cpu0) / (n / 5)) * 1e6);
  }
  console.log(
    `${name.padEnd(44)} ${median(walls).toFixed(1).padStart(7)} us wall ` +
      `${median(cpus).toFixed(1).padStart(7)} us CPU per record`,
  );
}

for (const size of [150, 1024, 2048, 4 * 1024 + 50, 16 * 1024]) {
  const plain = crypto.getRandomValues(new Uint8Array(size));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, webKey, plain),
  );
  const n = size > 10_000 ? 10_000 : 25_000;
  await measure(
    `WebCrypto encrypt ${size} B`,
    n,
    () => crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, webKey, plain),
  );
  await measure(
    `WebCrypto decrypt ${size} B`,
    n,
    () =>
      crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, webKey, sealed),
  );
  await measure(`node:crypto encrypt ${size} B`, n, () => {
    const c = createCipheriv("aes-128-gcm", key, nonce);
    c.setAAD(aad);
    const body = c.update(plain);
    c.final();
    return [body, c.getAuthTag()];
  });
  await measure(`node:crypto decrypt ${size} B`, n, () => {
    const d = createDecipheriv("aes-128-gcm", key, nonce);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    d.setAAD(aad);
    const pt = d.update(sealed.subarray(0, sealed.length - 16));
    d.final();
    return pt;
  });
}
