/**
 * Token keys through `p11-kit server` and p11-kit-client.so, the address given as an option
 * (device.cryptoki.p11_kit_server_address). In-process: the tests run one after another and
 * close every key (finalising the module) before they end.
 */
import assert from "node:assert/strict";
import { kindOf } from "../src/errors.ts";
import { openSigningKey, Secret, SignatureScheme, TokenNotFoundError } from "../src/keys/mod.ts";
import { setLogSink } from "../src/log.ts";
import { tempDir } from "./helpers/process.ts";
import { P11_KIT_CLIENT_MODULE, SoftHsm } from "./helpers/softhsm.ts";
import { webCryptoVerify } from "./keys_contract.ts";
import { P11KitServer } from "./keys_p11kit.ts";

async function signAndVerify(
  key: Awaited<ReturnType<typeof openSigningKey>>,
  spki: Uint8Array,
): Promise<void> {
  const message = crypto.getRandomValues(new Uint8Array(64));
  const signer = key.chooseScheme([SignatureScheme.ecdsa_secp256r1_sha256])!;
  assert.ok(await webCryptoVerify(spki, signer.scheme, message, await signer.sign(message)));
}

Deno.test("a token key works through p11-kit server and recovers after the server restarts", async () => {
  await using dir = await tempDir();
  const hsm = await SoftHsm.create(dir.path);
  const token = await hsm.initToken("edge");
  const imported = await hsm.importNewKey(token, "p256", { label: "device-key" });
  const socket = `${dir.path}/p11-kit.sock`;
  let server = await P11KitServer.start(hsm, socket);
  const lines: string[] = [];
  const previousSink = setLogSink((line) => lines.push(line));
  try {
    assert.equal(server.address, `unix:path=${socket}`);
    const key = await openSigningKey({
      kind: "pkcs11",
      modulePath: P11_KIT_CLIENT_MODULE,
      p11KitServerAddress: server.address,
      pin: new Secret("1234"),
      certificateSpki: imported.spki,
    });
    try {
      assert.equal(Deno.env.get("P11_KIT_SERVER_ADDRESS"), server.address);
      await signAndVerify(key, imported.spki);
      await server.stop();
      server = await P11KitServer.start(hsm, socket);
      // The old connection is dead (CKR_DEVICE_ERROR): finalize, initialise, log in, retry.
      await signAndVerify(key, imported.spki);
      assert.ok(
        lines.some((l) => /WARN .*token or session lost.*rv=CKR_/.test(l)),
        lines.join("\n"),
      );
      assert.ok(lines.some((l) => /re-initialising PKCS#11 module/.test(l)));
      await signAndVerify(key, imported.spki);
    } finally {
      await key.close();
    }
    assert.ok(lines.every((l) => !l.includes("1234")), "a log line shows the PIN");
  } finally {
    setLogSink(previousSink);
    await server.stop();
  }
});

Deno.test("a token key recovers when the p11-kit server comes back after being down for a while", async () => {
  await using dir = await tempDir();
  const hsm = await SoftHsm.create(dir.path);
  const token = await hsm.initToken("edge");
  const imported = await hsm.importNewKey(token, "p256", { label: "device-key" });
  const socket = `${dir.path}/p11-kit.sock`;
  let server = await P11KitServer.start(hsm, socket);
  const previousSink = setLogSink(() => {});
  try {
    const key = await openSigningKey({
      kind: "pkcs11",
      modulePath: P11_KIT_CLIENT_MODULE,
      p11KitServerAddress: server.address,
      pin: new Secret("1234"),
      certificateSpki: imported.spki,
    });
    try {
      await signAndVerify(key, imported.spki);
      await server.stop();
      // While the server is down every signature fails (exit code 1: worth retrying later).
      for (let i = 0; i < 2; i++) {
        await assert.rejects(signAndVerify(key, imported.spki), (e: unknown) => {
          assert.equal(kindOf(e), undefined, String(e));
          return true;
        });
      }
      server = await P11KitServer.start(hsm, socket);
      await signAndVerify(key, imported.spki);
    } finally {
      await key.close();
    }
  } finally {
    setLogSink(previousSink);
    await server.stop();
  }
});

Deno.test("p11-kit-client without a server says which address it tried", async () => {
  await using dir = await tempDir();
  const address = `unix:path=${dir.path}/nobody-listens.sock`;
  await assert.rejects(
    openSigningKey({
      kind: "pkcs11",
      modulePath: P11_KIT_CLIENT_MODULE,
      p11KitServerAddress: address,
      pin: new Secret("1234"),
    }),
    (e: unknown) => {
      assert.ok(e instanceof TokenNotFoundError, String(e));
      assert.ok(e.message.includes(`server address "${address}"`), e.message);
      assert.match(e.message, /is "p11-kit server" running/);
      return true;
    },
  );
});
