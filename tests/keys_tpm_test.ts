/**
 * Keys in a TPM 2.0 through tpm2-pkcs11 (a software TPM, tests/helpers/tpm.ts), made by
 * `hsm create-key` and used in-process: the SigningKey contract, recovery when the TPM goes
 * away and comes back, and the dictionary-attack lockout. The module is process-global: the
 * TPM's environment is set before a key opens it, and every key is closed (finalising the
 * module) before its step ends. One TPM serves every step: the tabrmd TCTI talks D-Bus through
 * GLib's session bus connection, which outlives the module, so a process reaches one bus only.
 */
import assert from "node:assert/strict";
import {
  KeyUri,
  openSigningKey,
  PinError,
  PinLockedError,
  Secret,
  type SigningKey,
} from "../src/keys/mod.ts";
import { exitCodeOf } from "../src/errors.ts";
import { setLogSink } from "../src/log.ts";
import { type KeyKind, TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";
import { SoftTpm, TPM2_PKCS11_MODULE, type TpmKey } from "./helpers/tpm.ts";
import { EXPECTED, signingKeyContract, webCryptoVerify } from "./keys_contract.ts";

const PIN = "123456";

const CREATE_ARGS: Partial<Record<KeyKind, string[]>> = {
  p256: ["--type", "ecdsa", "--curve", "p256"],
  p384: ["--type", "ecdsa", "--curve", "p384"],
  rsa2048: ["--type", "rsa", "--bits", "2048"],
};

function openTpmKey(uri: string, spki?: Uint8Array, pin = PIN) {
  return openSigningKey({
    kind: "pkcs11",
    modulePath: TPM2_PKCS11_MODULE,
    pin: new Secret(pin),
    uri: KeyUri.parse(uri),
    certificateSpki: spki,
  });
}

async function signs(key: SigningKey, spki: Uint8Array): Promise<boolean> {
  const signer = key.chooseScheme(key.schemes)!;
  const message = crypto.getRandomValues(new Uint8Array(48));
  return await webCryptoVerify(spki, signer.scheme, message, await signer.sign(message));
}

Deno.test("keys in a TPM through tpm2-pkcs11", async (t) => {
  await using dir = await tempDir();
  await using tpm = await SoftTpm.start(`${dir.path}/tpm`);
  const token = await tpm.initToken("edge", { pin: PIN });
  using _env = tpm.processEnv();
  const keys = new Map<KeyKind, TpmKey>();
  for (const kind of ["p256", "p384", "rsa2048"] as const) {
    keys.set(kind, await tpm.createKey(token, CREATE_ARGS[kind]!, `key-${kind}`));
  }
  await t.step(
    "made by hsm create-key (P-256, P-384, RSA 2048), they satisfy the SigningKey contract",
    (t) => contract(t, keys, dir.path),
  );
  await t.step(
    "a key signs again on the first attempt after the TPM is back (swtpm, then swtpm and tpm2-abrmd, restarted)",
    () => recovery(tpm, keys.get("p256")!),
  );
  await t.step(
    "a TPM in dictionary-attack lockout refuses the right PIN as locked, without remembering it as wrong",
    () => lockout(tpm, keys.get("p384")!),
  );
});

async function contract(t: Deno.TestContext, keys: Map<KeyKind, TpmKey>, dir: string) {
  const pki = await TestPki.create(`${dir}/pki`);
  for (const [kind, made] of keys) {
    await t.step(`TPM ${kind}`, async (t) => {
      const device = await pki.device(`device-${kind}`, "dev", { publicKeySpki: made.spki });
      const key = await openTpmKey(made.uri, made.spki);
      try {
        assert.match(key.description, new RegExp(`^PKCS#11 key "pkcs11:token=edge;.*key-${kind}`));
        await signingKeyContract(t, key, { certificatePem: device.certPem, ...EXPECTED[kind] });
      } finally {
        await key.close();
      }
    });
  }
}

async function recovery(tpm: SoftTpm, made: TpmKey): Promise<void> {
  const lines: string[] = [];
  const previousSink = setLogSink((l) => lines.push(l));
  const key = await openTpmKey(made.uri, made.spki);
  try {
    assert.ok(await signs(key, made.spki));
    for (const withResourceManager of [false, true]) {
      await tpm.stopTpm();
      if (withResourceManager) await tpm.stopResourceManager();
      // While it is gone every attempt fails, as a runtime error (exit 1: worth retrying), and
      // re-initialises the module: C_Initialize itself fails while the TPM is away.
      for (let i = 0; i < 3; i++) {
        await assert.rejects(signs(key, made.spki), (e: unknown) => {
          assert.equal(exitCodeOf(e), 1, String(e));
          return true;
        });
      }
      await tpm.startTpm();
      if (withResourceManager) await tpm.startResourceManager();
      const reinits = lines.filter((l) => /re-initialising PKCS#11 module/.test(l)).length;
      assert.ok(await signs(key, made.spki), "the first signature after the TPM is back");
      assert.ok(await signs(key, made.spki));
      assert.equal(
        lines.filter((l) => /re-initialising PKCS#11 module/.test(l)).length,
        reinits + 1,
        "one re-initialisation, on the first attempt after the TPM is back",
      );
    }
  } finally {
    await key.close();
    setLogSink(previousSink);
  }
}

async function lockout(tpm: SoftTpm, made: TpmKey): Promise<void> {
  // From no failures (each TPM power loss above counted as one, TPM 2.0 Part 1 section 19.8.6).
  await tpm.clearLockout();
  await tpm.setLockoutParameters({ maxTries: 2, recoverySeconds: 600, lockoutRecoverySeconds: 1 });
  // Other software's failed logins lock the TPM for everyone.
  await tpm.failLogins(2);
  assert.equal(await tpm.inLockout(), true);
  for (let i = 0; i < 2; i++) {
    await assert.rejects(openTpmKey(made.uri), (e: unknown) => {
      assert.ok(e instanceof PinLockedError, String(e));
      assert.ok(!(e instanceof PinError), "not a wrong PIN");
      assert.equal(exitCodeOf(e), 1, "exit 1: it may work later");
      assert.equal(e.rv?.name, "CKR_PIN_LOCKED");
      assert.match(
        e.message,
        /^PIN locked for token "edge" \(serial \d+\): C_Login returned CKR_PIN_LOCKED; it refuses every login, right or wrong, until the lockout ends: a TPM ends its dictionary-attack lockout by itself after its recovery time, or at once with "tpm2_dictionarylockout --clear-lockout"/,
      );
      assert.doesNotMatch(e.message, new RegExp(PIN));
      return true;
    });
  }
  await tpm.clearLockout();
  // The same PIN in the same process: it was never counted as wrong.
  const key = await openTpmKey(made.uri, made.spki);
  try {
    assert.ok(await signs(key, made.spki));
  } finally {
    await key.close();
  }
}
