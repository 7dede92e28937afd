/**
 * `hsm-bridge hsm list-tokens | list-keys | create-key`: look at the token and make a device
 * key on it, using the module, token URI and PIN from tedge.toml.
 */
import { type Command, Option } from "commander";
import { setConfigValue } from "../config/mod.ts";
import { type CreateKeySpec, describeKeyType } from "../keys/mod.ts";
import { encodePem } from "../x509/mod.ts";
import { loadDeviceCertificateIfPresent, tokenAdmin } from "./_keys.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./errors.ts";

interface JsonOption {
  json?: boolean;
}

interface CreateKeyOptions {
  type: "ecdsa" | "rsa" | "ed25519";
  curve?: "p256" | "p384";
  bits?: "2048" | "3072" | "4096";
  label: string;
  id?: string;
  setConfig?: boolean;
}

export function registerHsm(program: Command, ctx: CliContext): void {
  const hsm = program.command("hsm").description(
    "Inspect the PKCS#11 token and create the device key on it (through the module, or " +
      "tedge-p11-server in socket mode)",
  );
  registerListTokens(hsm, ctx);
  registerListKeys(hsm, ctx);
  registerCreateKey(hsm, ctx);
}

function registerListTokens(hsm: Command, ctx: CliContext): void {
  hsm.command("list-tokens")
    .description("List the tokens the module shows (no PIN needed)")
    .option("--json", "print JSON")
    .action(async (opts: JsonOption) => {
      const tokens = await tokenAdmin(await ctx.loadConfig()).listTokens();
      if (opts.json) return ctx.printJson(tokens);
      ctx.print(
        tokens.map((t) =>
          [
            `Token "${t.label}"`,
            `  serial:       ${t.serial}`,
            `  manufacturer: ${t.manufacturer}`,
            `  model:        ${t.model}`,
            `  slot id:      ${t.slotId}`,
            `  flags:        ${t.flags.join(", ")}`,
            `  uri:          ${t.uri}`,
          ].join("\n")
        ).join("\n\n"),
      );
    });
}

function registerListKeys(hsm: Command, ctx: CliContext): void {
  hsm.command("list-keys")
    .description(
      "List the private keys on the configured token and which one matches device.cert_path",
    )
    .option("--json", "print JSON")
    .action(async (opts: JsonOption) => {
      const config = await ctx.loadConfig();
      const admin = tokenAdmin(config);
      const certificate = await loadDeviceCertificateIfPresent(config);
      const listed = await admin.listKeys(certificate?.spki);
      if (opts.json) {
        return ctx.printJson({
          token: listed.token,
          certificate: certificate?.path ?? null,
          keys: listed.keys.map(({ keyType: _, ...k }) => ({
            ...k,
            matchesCertificate: k.matchesCertificate ?? null,
          })),
        });
      }
      const lines = [`Token "${listed.token.label}" (serial ${listed.token.serial})`];
      if (listed.keys.length === 0) lines.push("  no private keys");
      for (const k of listed.keys) {
        const match = k.matchesCertificate === undefined
          ? certificate ? "unknown (public key unreadable)" : "no certificate"
          : k.matchesCertificate
          ? `yes (${certificate!.path})`
          : "no";
        lines.push(
          "",
          `Key "${k.label}"`,
          `  id:                  ${k.idHex}`,
          `  type:                ${k.type}`,
          `  uri:                 ${k.uri}`,
          `  schemes:             ${k.schemes.join(", ") || "none the token can sign with"}`,
          `  matches certificate: ${match}`,
        );
      }
      ctx.print(lines.join("\n"));
    });
}

function registerCreateKey(hsm: Command, ctx: CliContext): void {
  hsm.command("create-key")
    .description("Generate a key pair on the token: the private key never leaves it")
    .addOption(
      new Option("--type <type>", "key type").choices(["ecdsa", "rsa", "ed25519"])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--curve <curve>", "ECDSA curve (default p256)").choices(["p256", "p384"]),
    )
    .addOption(
      new Option("--bits <bits>", "RSA size (default 2048)").choices(["2048", "3072", "4096"]),
    )
    .option("--label <label>", "CKA_LABEL of the new key", "device-key")
    .option("--id <hex>", "CKA_ID of the new key in hex (default: 8 random bytes)")
    .option("--set-config", "write the new key's URI to device.key_uri")
    .action(async (opts: CreateKeyOptions) => {
      const spec = keySpec(opts);
      const id = opts.id === undefined ? undefined : parseHexId(opts.id);
      const config = await ctx.loadConfig();
      if (spec.type === "ed25519" && config.get("device.cryptoki.mode") === "socket") {
        throw new UsageError(
          `--type ed25519 cannot be created through tedge-p11-server (its protocol creates ` +
            `RSA and EC keys only): use --type ecdsa, or device.cryptoki.mode "module"`,
        );
      }
      const created = await tokenAdmin(config).createKey(spec, { label: opts.label, id });
      ctx.print(
        `Created ${describeKeyType(created.keyType)} key "${created.label}" on the token\n` +
          `URI: ${created.uri}\n` +
          encodePem("PUBLIC KEY", created.publicKeySpki).trimEnd(),
      );
      if (opts.setConfig) {
        await setConfigValue(ctx.configPath(), "device.key_uri", created.uri.toString());
        ctx.reloadConfig();
        ctx.print(`device.key_uri set to ${created.uri} in ${ctx.configPath()}`);
      }
    });
}

function keySpec(opts: CreateKeyOptions): CreateKeySpec {
  if (opts.curve && opts.type !== "ecdsa") {
    throw new UsageError(`--curve applies to --type ecdsa only, not "${opts.type}"`);
  }
  if (opts.bits && opts.type !== "rsa") {
    throw new UsageError(`--bits applies to --type rsa only, not "${opts.type}"`);
  }
  if (opts.type === "ecdsa") {
    return { type: "ecdsa", curve: opts.curve === "p384" ? "P-384" : "P-256" };
  }
  if (opts.type === "rsa") {
    return { type: "rsa", bits: Number(opts.bits ?? 2048) as 2048 | 3072 | 4096 };
  }
  return { type: "ed25519" };
}

function parseHexId(text: string): Uint8Array {
  const hex = text.replace(/^0x/i, "").replace(/:/g, "");
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
    throw new UsageError(`Invalid --id "${text}": expected hex bytes, e.g. 01a2`);
  }
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));
}
