/**
 * A device set up for the key commands' CLI tests: its own SoftHSM token directory, a test
 * PKI, and a tedge.toml written from a table of dotted keys. `cli(...)` runs `cli.ts` as a
 * separate process (tests/helpers/cli.ts) with `--config` and the SoftHSM environment.
 */
import { type CliResult, runCli } from "./helpers/cli.ts";
import { tempDir } from "./helpers/process.ts";
import { TestPki } from "./helpers/pki.ts";
import { SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";

export type TomlScalar = string | boolean | number;

/** TOML text for dotted keys (`device.cryptoki.mode`), grouped into tables. */
export function tomlOf(values: Record<string, TomlScalar>): string {
  const tables = new Map<string, string[]>();
  for (const [key, value] of Object.entries(values)) {
    const i = key.lastIndexOf(".");
    const table = key.slice(0, i);
    const line = `${key.slice(i + 1)} = ${
      typeof value === "string" ? JSON.stringify(value) : value
    }`;
    tables.set(table, [...(tables.get(table) ?? []), line]);
  }
  return [...tables].map(([t, lines]) => `[${t}]\n${lines.join("\n")}\n`).join("\n");
}

export class Device implements AsyncDisposable {
  private constructor(
    readonly dir: string,
    readonly hsm: SoftHsm,
    readonly pki: TestPki,
    readonly configPath: string,
    private readonly cleanup: AsyncDisposable,
  ) {}

  static async create(): Promise<Device> {
    const tmp = await tempDir("hsm-bridge-keys-cli-");
    const hsm = await SoftHsm.create(`${tmp.path}/softhsm`);
    const pki = await TestPki.create(`${tmp.path}/pki`);
    return new Device(tmp.path, hsm, pki, `${tmp.path}/tedge.toml`, tmp);
  }

  /** Module-mode settings for SoftHSM with PIN 1234, plus `extra`. */
  moduleConfig(extra: Record<string, TomlScalar> = {}): Record<string, TomlScalar> {
    return {
      "device.id": "edge-0001",
      "device.cert_path": `${this.dir}/device.crt`,
      "device.cryptoki.mode": "module",
      "device.cryptoki.module_path": SOFTHSM_MODULE,
      "device.cryptoki.pin": "1234",
      ...extra,
    };
  }

  async writeConfig(values: Record<string, TomlScalar>): Promise<void> {
    await Deno.writeTextFile(this.configPath, tomlOf(values));
  }

  /** Issues the device certificate (at `<dir>/device.crt`) for a public key. */
  async issueCertificate(spki: Uint8Array, cn = "edge-0001"): Promise<string> {
    const issued = await this.pki.device("device", cn, { publicKeySpki: spki });
    await Deno.copyFile(issued.certPath, `${this.dir}/device.crt`);
    return `${this.dir}/device.crt`;
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return runCli(["--config", this.configPath, ...args], { env: { ...this.hsm.env, ...env } });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup[Symbol.asyncDispose]();
  }
}

export { SOFTHSM_MODULE };
