import assert from "node:assert/strict";
import { tempDir } from "./process.ts";
import { SoftTpm } from "./tpm.ts";

Deno.test("SoftTpm helper runs a TPM behind tpm2-abrmd on its own bus, makes a token, and restarts", async () => {
  await using dir = await tempDir();
  await using tpm = await SoftTpm.start(dir.path);
  assert.match(tpm.busAddress, new RegExp(`^unix:path=${dir.path}/bus.socket`));
  const cap = await tpm.tool("tpm2_getcap", ["properties-fixed"]);
  assert.match(cap.stdout, /TPM2_PT_FAMILY_INDICATOR:\s+raw: 0x322E3000\s+value: "2.0"/);
  await tpm.initToken("edge");
  await tpm.initToken("second");
  const tokens = await tpm.tool("tpm2_ptool", [
    "listtokens",
    "--pid=1",
    `--path=${dir.path}/store`,
  ]);
  assert.match(tokens.stdout, /label: edge[\s\S]*label: second/);
  assert.equal(await tpm.inLockout(), false);

  await tpm.stopTpm();
  const down = await tpm.tool("tpm2_getrandom", ["4"], { allowFailure: true });
  assert.notEqual(down.code, 0, "no TPM while swtpm is down");
  await tpm.startTpm();
  assert.equal((await tpm.tool("tpm2_getrandom", ["4"])).code, 0, "tpm2-abrmd reaches it again");
  await tpm.stopResourceManager();
  await tpm.startResourceManager();
  assert.equal((await tpm.tool("tpm2_getrandom", ["4"])).code, 0);
});
