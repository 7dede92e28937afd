import assert from "node:assert/strict";
import { Mosquitto } from "./mosquitto.ts";
import { TestPki } from "./pki.ts";
import { run, tempDir } from "./process.ts";

Deno.test("Mosquitto helper serves TLS 1.3 with a required client certificate", async () => {
  await using dir = await tempDir();
  const pki = await TestPki.create(`${dir.path}/pki`);
  const server = await pki.server();
  const device = await pki.device("device", "dev-1");
  await using broker = await Mosquitto.start({
    dir: dir.path,
    tls: { caPath: pki.caPath, certPath: server.certPath, keyPath: server.keyPath! },
  });
  const common = ["-h", "127.0.0.1", "-p", String(broker.port), "--cafile", pki.caPath];
  const ok = await run("mosquitto_pub", [
    ...common,
    "--cert",
    device.certPath,
    "--key",
    device.keyPath!,
    "-t",
    "x",
    "-m",
    "y",
  ]);
  assert.equal(ok.code, 0);
  const refused = await run("mosquitto_pub", [...common, "-t", "x", "-m", "y"], {
    allowFailure: true,
  });
  assert.notEqual(refused.code, 0);
  await broker.restart();
  assert.ok(broker.running);
});
