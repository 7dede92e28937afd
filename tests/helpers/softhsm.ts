/**
 * SoftHSM tokens for tests: each test gets its own token directory and config file, so tests
 * never share state. Keys are imported with softhsm2-util (PKCS#8 PEM: P-256, P-384, RSA and
 * Ed25519 all work with SoftHSM 2.6).
 *
 * The module reads SOFTHSM2_CONF when C_Initialize runs: pass `env` to child processes, or
 * `Deno.env.set("SOFTHSM2_CONF", hsm.conf)` before an in-process module load.
 */
import { run } from "./process.ts";
import { generateKeyPair, type KeyKind, privateKeyPem, spkiOf } from "./pki.ts";

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";
export const PKCS11_SPY_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so";
export const P11_KIT_CLIENT_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";

export interface TokenInfo {
  readonly label: string;
  readonly serial: string;
  readonly pin: string;
  readonly soPin: string;
}

export interface TokenKey {
  readonly label: string;
  /** CKA_ID in hex. */
  readonly idHex: string;
  readonly kind: KeyKind;
  /** DER SubjectPublicKeyInfo of the key pair. */
  readonly spki: Uint8Array;
  /** `pkcs11:token=...;object=...` (no PIN). */
  readonly uri: string;
}

export class SoftHsm {
  readonly module = SOFTHSM_MODULE;

  private constructor(readonly dir: string, readonly conf: string) {}

  /** A SoftHSM configuration with an empty token directory under `dir`. */
  static async create(dir: string): Promise<SoftHsm> {
    const tokens = `${dir}/tokens`;
    await Deno.mkdir(tokens, { recursive: true });
    const conf = `${dir}/softhsm2.conf`;
    await Deno.writeTextFile(
      conf,
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n` +
        `slots.removable = false\n`,
    );
    return new SoftHsm(dir, conf);
  }

  /** Environment for anything that loads the module (merge into a child's env). */
  get env(): Record<string, string> {
    return { SOFTHSM2_CONF: this.conf };
  }

  async #util(args: string[]): Promise<string> {
    return (await run("softhsm2-util", args, { env: this.env })).stdout;
  }

  /** Initialises a new token in the first free slot; returns its label and serial. */
  async initToken(label: string, { pin = "1234", soPin = "5678" } = {}): Promise<TokenInfo> {
    await this.#util(["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPin]);
    const slots = await this.#util(["--show-slots"]);
    // Each slot block lists "Serial number:" before "Label:"; find the block with our label.
    const re = /Serial number:\s*(\S*)\s*\n\s*Initialized:[\s\S]*?Label:\s*(.*)/g;
    for (const m of slots.matchAll(re)) {
      if (m[2].trim() === label) return { label, serial: m[1], pin, soPin };
    }
    const serial = /Serial number:\s*([0-9a-f]{16})[\s\S]*?Label:\s*(\S+)/.exec(slots);
    if (serial && serial[2] === label) return { label, serial: serial[1], pin, soPin };
    throw new Error(`Token "${label}" not found after init:\n${slots}`);
  }

  /** Generates a key pair of `kind` in memory and imports it into the token. */
  async importNewKey(
    token: TokenInfo,
    kind: KeyKind,
    { label = `key-${kind}`, idHex = randomIdHex() } = {},
  ): Promise<TokenKey & { keys: CryptoKeyPair }> {
    const keys = await generateKeyPair(kind);
    const pemPath = `${this.dir}/${label}-${idHex}.p8`;
    await Deno.writeTextFile(pemPath, await privateKeyPem(keys.privateKey), { mode: 0o600 });
    try {
      await this.#util([
        "--import",
        pemPath,
        "--token",
        token.label,
        "--label",
        label,
        "--id",
        idHex,
        "--pin",
        token.pin,
      ]);
    } finally {
      await Deno.remove(pemPath);
    }
    return {
      label,
      idHex,
      kind,
      keys,
      spki: await spkiOf(keys.publicKey),
      uri: `pkcs11:token=${encodeURIComponent(token.label)};object=${encodeURIComponent(label)}`,
    };
  }
}

export function randomIdHex(bytes = 4): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Environment that puts OpenSC's pkcs11-spy.so in front of SoftHSM, logging every call to
 * `logPath` (load `PKCS11_SPY_MODULE` as the module). `countCalls` counts one function there.
 */
export function spyEnv(hsm: SoftHsm, logPath: string): Record<string, string> {
  return { ...hsm.env, PKCS11SPY: SOFTHSM_MODULE, PKCS11SPY_OUTPUT: logPath };
}

export async function countCalls(logPath: string, fn: string): Promise<number> {
  const text = await Deno.readTextFile(logPath).catch(() => "");
  return text.split("\n").filter((l) => new RegExp(`^\\d+: ${fn}$`).test(l.trim())).length;
}
