/**
 * `hsm create-key`, `hsm list-tokens` and `check key` on the PKCS#11 modules besides SoftHSM
 * that Debian 12 has: tpm2-pkcs11 in front of a software TPM, and opencryptoki's soft token.
 * Each key made by `hsm create-key` gets a certificate, and `check key` signs with it and
 * verifies each signature with the certificate's public key.
 */
import assert from "node:assert/strict";
import { type CliResult, printedPublicKey, runCli } from "./helpers/cli.ts";
import { OpenCryptoki } from "./helpers/opencryptoki.ts";
import { TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";
import { SoftTpm, TPM2_PKCS11_MODULE } from "./helpers/tpm.ts";
import { tomlOf } from "./keys_cli_fixture.ts";

/** A device whose config names `module`; `cli` runs hsm-bridge with `env` (inside `wrap`). */
async function device(
  dir: string,
  module: string,
  run: { env?: Record<string, string>; wrap?: (argv: string[]) => string[] } = {},
) {
  const pki = await TestPki.create(`${dir}/pki`);
  const configPath = `${dir}/tedge.toml`;
  const certPath = `${dir}/device.crt`;
  await Deno.writeTextFile(
    configPath,
    tomlOf({
      "device.id": "edge-0001",
      "device.cert_path": certPath,
      "device.cryptoki.mode": "module",
      "device.cryptoki.module_path": module,
      "device.cryptoki.pin": "123456",
    }),
  );
  return {
    cli: (args: string[]): Promise<CliResult> =>
      runCli(["--config", configPath, ...args], { env: run.env, wrap: run.wrap }),
    /** Issues device.cert_path for the public key `hsm create-key` printed. */
    async certify(createKeyStdout: string): Promise<void> {
      const issued = await pki.device("device", "edge-0001", {
        publicKeySpki: printedPublicKey(createKeyStdout),
      });
      await Deno.copyFile(issued.certPath, certPath);
    },
  };
}

interface CheckJson {
  key: string;
  type: string;
  results: { scheme: string; verified: boolean }[];
}

/** `hsm create-key ARGS --set-config`, a certificate for the key, then `check key`. */
async function createAndCheck(
  d: Awaited<ReturnType<typeof device>>,
  args: string[],
  label: string,
): Promise<CheckJson> {
  const made = await d.cli(["hsm", "create-key", ...args, "--label", label, "--set-config"]);
  assert.equal(made.code, 0, `${args.join(" ")}: ${made.stdout}${made.stderr}`);
  await d.certify(made.stdout);
  const checked = await d.cli(["check", "key", "--json"]);
  assert.equal(checked.code, 0, `${args.join(" ")}: ${checked.stdout}${checked.stderr}`);
  return JSON.parse(checked.stdout) as CheckJson;
}

/** RSA keys: PSS, then RSA PKCS#1 v1.5 (TLS 1.2 only), each verified by check key. */
const RSA_SCHEMES = [
  "rsa_pss_rsae_sha256",
  "rsa_pss_rsae_sha384",
  "rsa_pss_rsae_sha512",
  "rsa_pkcs1_sha256",
  "rsa_pkcs1_sha384",
  "rsa_pkcs1_sha512",
];

Deno.test("hsm create-key makes P-256, P-384 and RSA keys in a TPM (tpm2-pkcs11), and check key signs with each", async () => {
  await using dir = await tempDir();
  await using tpm = await SoftTpm.start(`${dir.path}/tpm`);
  await tpm.initToken("edge", { pin: "123456" });
  const d = await device(dir.path, TPM2_PKCS11_MODULE, { env: tpm.env });

  // tpm2-pkcs11 pads the model with NUL bytes: listed trimmed, and the URI names it trimmed.
  const tokens = await d.cli(["hsm", "list-tokens"]);
  assert.equal(tokens.code, 0, tokens.stderr);
  assert.match(tokens.stdout, /^ {2}model: +SW {3}TPM\n/m);
  assert.match(
    tokens.stdout,
    /uri: +pkcs11:token=edge;manufacturer=IBM;serial=\d+;model=SW%20%20%20TPM\n/,
  );
  assert.doesNotMatch(tokens.stdout, /%00|\0/);

  const cases: [string[], string, string[]][] = [
    [["--type", "ecdsa", "--curve", "p256"], "EC P-256", ["ecdsa_secp256r1_sha256"]],
    [["--type", "ecdsa", "--curve", "p384"], "EC P-384", ["ecdsa_secp384r1_sha384"]],
    [["--type", "rsa", "--bits", "2048"], "RSA 2048", RSA_SCHEMES],
  ];
  for (const [i, [args, type, schemes]] of cases.entries()) {
    const report = await createAndCheck(d, args, `device-key-${i}`);
    assert.equal(report.type, type);
    assert.match(
      report.key,
      new RegExp(`^PKCS#11 key "pkcs11:token=edge;.*object=device-key-${i};`),
    );
    assert.deepEqual(
      report.results.map((r) => [r.scheme, r.verified]),
      schemes.map((s) => [s, true]),
    );
  }
  // The token URI earlier versions printed (model with its NUL padding) still selects it.
  const set = await d.cli(["config", "set", "device.key_uri", "pkcs11:model=SW%20%20%20TPM%00%00"]);
  assert.equal(set.code, 0, set.stderr);
  const byModel = await d.cli(["hsm", "list-keys", "--json"]);
  assert.equal(byModel.code, 0, byModel.stderr);
  assert.equal(JSON.parse(byModel.stdout).keys.length, 3);

  const ed = await d.cli(["hsm", "create-key", "--type", "ed25519"]);
  assert.equal(ed.code, 1, ed.stdout + ed.stderr);
  assert.match(
    ed.stderr,
    /^hsm-bridge: Cannot generate a key pair on token "edge": it does not offer ed25519 key generation \(mechanism 0x1055\); choose another --type: this token can make ecdsa, rsa\n$/,
  );
});

Deno.test("hsm create-key makes RSA keys on opencryptoki's soft token, and check key signs with them", async () => {
  await using dir = await tempDir();
  const ock = await OpenCryptoki.create(`${dir.path}/opencryptoki`);
  await ock.initToken("edge", { pin: "123456" });
  const d = await device(dir.path, ock.module, { wrap: (argv) => ock.wrap(argv) });

  const tokens = await d.cli(["hsm", "list-tokens", "--json"]);
  assert.equal(tokens.code, 0, tokens.stderr);
  assert.deepEqual(
    JSON.parse(tokens.stdout).map((t: { label: string; model: string }) => [t.label, t.model]),
    [["edge", "IBM SoftTok"]],
  );
  for (const bits of ["2048", "3072"]) {
    const report = await createAndCheck(d, ["--type", "rsa", "--bits", bits], `rsa-${bits}`);
    assert.equal(report.type, `RSA ${bits}`);
    assert.deepEqual(
      report.results.map((r) => [r.scheme, r.verified]),
      RSA_SCHEMES.map((s) => [s, true]),
    );
  }
  // The keys are still there for the next process (a namespace and pkcsslotd of its own).
  const keys = await d.cli(["hsm", "list-keys", "--json"]);
  assert.equal(keys.code, 0, keys.stderr);
  assert.deepEqual(
    JSON.parse(keys.stdout).keys.map((k: { label: string }) => k.label).sort(),
    ["rsa-2048", "rsa-3072"],
  );
  const ec = await d.cli(["hsm", "create-key", "--type", "ecdsa"]);
  assert.equal(ec.code, 1, ec.stdout + ec.stderr);
  assert.match(
    ec.stderr,
    /it does not offer ecdsa key generation \(mechanism 0x1040\); choose another --type: this token can make rsa\n$/,
  );
});

Deno.test("commands other than run say the TPM's PIN is locked and how to end the lockout (exit 1); a wrong PIN stays a configuration error (78)", async () => {
  await using dir = await tempDir();
  await using tpm = await SoftTpm.start(`${dir.path}/tpm`);
  await tpm.initToken("edge", { pin: "123456" });
  const d = await device(dir.path, TPM2_PKCS11_MODULE, { env: tpm.env });
  await createAndCheck(d, ["--type", "ecdsa"], "device-key");
  await tpm.clearLockout();
  await tpm.setLockoutParameters({ maxTries: 2, recoverySeconds: 600, lockoutRecoverySeconds: 1 });
  await tpm.failLogins(2);
  for (const args of [["hsm", "list-keys"], ["check", "key"], ["cert", "create-csr"]]) {
    const r = await d.cli(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    // Our one line comes last (tpm2-pkcs11 and the TSS print their own errors before it).
    assert.match(
      r.stderr.split("\n").at(-2)! + "\n",
      /^hsm-bridge: PIN locked for token "edge" \(serial \d+\): C_Login returned CKR_PIN_LOCKED; it refuses every login, right or wrong, until the lockout ends: a TPM ends its dictionary-attack lockout by itself after its recovery time, or at once with "tpm2_dictionarylockout --clear-lockout" \(lockout hierarchy authorisation\)\n$/,
    );
  }
  await tpm.clearLockout();
  const listed = await d.cli(["hsm", "list-keys", "--json"]);
  assert.equal(listed.code, 0, listed.stderr);

  const set = await d.cli(["config", "set", "device.cryptoki.pin", "654321"]);
  assert.equal(set.code, 0, set.stderr);
  const wrong = await d.cli(["hsm", "list-keys"]);
  assert.equal(wrong.code, 78, wrong.stderr);
  assert.match(wrong.stderr, /^hsm-bridge: Wrong PIN for token "edge" .*CKR_PIN_INCORRECT/m);
});
