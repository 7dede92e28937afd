/** The README's first command: `deno task demo`, run as a newcomer runs it. */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

/** Processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll(
        "\0",
        " ",
      );
      if (cmdline.includes(text)) found.push(`${entry.name}: ${cmdline}`);
    } catch { /* gone */ }
  }
  return found;
}

Deno.test("deno task demo --duration 15 bridges both ways with a token key and leaves nothing behind", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "demo", "--duration", "15"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stdout + stderr);
  const sandbox = /sandbox (\/\S+)/.exec(stdout)?.[1];
  assert.ok(sandbox, stdout);
  assert.match(
    stdout,
    /signed with ecdsa_secp256r1_sha256 by PKCS#11 key "pkcs11:token=demo-token;/,
  );
  assert.match(stdout, /health: .*\{"status":"up"\}/);
  assert.match(
    stdout,
    /cloud received the service message on s\/us: 102,demo-device-0001:device:main:service:tedge-mapper-c8y,service,tedge-mapper-c8y,up/,
  );
  const up = stdout.match(/^ {3}cloud {2}<= s\/us {6}200,/gm)?.length ?? 0;
  const down = stdout.match(/^ {3}device <= c8y\/s\/ds {2}510,/gm)?.length ?? 0;
  assert.ok(up >= 10, `measurements that reached the cloud: ${up}\n${stdout}`);
  assert.ok(down >= 3, `operations that reached the device: ${down}\n${stdout}`);
  assert.match(stdout, /hsm-bridge exited with code 0/);
  await assert.rejects(Deno.stat(sandbox), Deno.errors.NotFound, "sandbox removed");
  assert.deepEqual(await processesMentioning(sandbox), []);
});

Deno.test("the demo cleans up processes and files on Ctrl-C", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "tools/demo.ts"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  let stdout = "";
  const reader = child.stdout.getReader();
  while (!/device <= c8y\/s\/ds/.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += dec.decode(value);
  }
  child.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += dec.decode(value);
  }
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  const sandbox = /sandbox (\/\S+)/.exec(stdout)?.[1];
  assert.ok(sandbox, stdout);
  assert.equal(status.code, 0, stdout + stderr);
  assert.match(stdout, /hsm-bridge exited with code 0/);
  assert.match(stdout, /Cleaned up: processes stopped/);
  await assert.rejects(Deno.stat(sandbox), Deno.errors.NotFound, "sandbox removed");
  assert.deepEqual(await processesMentioning(sandbox), []);
});
