/**
 * `hsm-bridge check key`: opens the configured key and the device certificate, signs a random
 * challenge with every scheme the key offers, verifies each signature with the certificate's
 * public key (WebCrypto), and prints how long each signature took. A key that is not the
 * certificate's exits 78 before anything is signed.
 */
import type { Command } from "commander";
import { describeKeyType, isTls12Only, schemeName, verifySignature } from "../keys/mod.ts";
import { loadDeviceCertificate, openConfiguredKey } from "./_keys.ts";
import type { CliContext } from "./context.ts";

interface SchemeResult {
  scheme: string;
  verified: boolean;
  ms: number;
  /** RSA PKCS#1 v1.5: used in TLS 1.2 CertificateVerify only. */
  tls12Only?: true;
  error?: string;
}

/** A signature that did not verify: the token or key misbehaves (exit 1). */
export class KeyCheckError extends Error {
  override name = "KeyCheckError";
}

/** The `check` group, shared with other `check ...` commands whichever registers first. */
export function checkGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === "check") ??
    program.command("check").description("Check that the configuration works");
}

export function registerCheckKey(program: Command, ctx: CliContext): void {
  checkGroup(program).command("key")
    .description(
      "Sign a challenge with every scheme the configured key offers and verify it with " +
        "device.cert_path's public key",
    )
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const config = await ctx.loadConfig();
      const certificate = await loadDeviceCertificate(config);
      const key = await openConfiguredKey(config, { certificate });
      const results: SchemeResult[] = [];
      try {
        for (const scheme of key.schemes) {
          const challenge = crypto.getRandomValues(new Uint8Array(64));
          const started = performance.now();
          try {
            const signature = await key.chooseScheme([scheme])!.sign(challenge);
            const ms = performance.now() - started;
            const verified = await verifySignature(certificate.spki, scheme, challenge, signature);
            results.push({
              scheme: schemeName(scheme),
              verified,
              ms: round(ms),
              ...only12(scheme),
            });
          } catch (e) {
            const ms = round(performance.now() - started);
            results.push({
              scheme: schemeName(scheme),
              verified: false,
              ms,
              ...only12(scheme),
              error: String(e),
            });
          }
        }
      } finally {
        await key.close();
      }
      if (opts.json) {
        ctx.printJson({
          key: key.description,
          type: describeKeyType(key.keyType),
          certificate: certificate.path,
          results,
        });
      } else {
        const width = Math.max(...results.map((r) => r.scheme.length));
        ctx.print(
          [
            `Key:         ${key.description}`,
            `Certificate: ${certificate.path} (public key matches)`,
            ...results.map((r) =>
              `  ${r.scheme.padEnd(width)}  ${r.verified ? "ok    " : "FAILED"}  ` +
              `${r.ms.toFixed(1).padStart(8)} ms${r.tls12Only ? "  (TLS 1.2 only)" : ""}` +
              `${r.error ? `  ${r.error}` : ""}`
            ),
          ].join("\n"),
        );
      }
      const failed = results.filter((r) => !r.verified);
      if (failed.length) {
        throw new KeyCheckError(
          `Signatures by ${key.description} did not verify with the certificate's public key ` +
            `for: ${failed.map((r) => r.scheme).join(", ")}`,
        );
      }
    });
}

function only12(scheme: number): { tls12Only?: true } {
  return isTls12Only(scheme) ? { tls12Only: true } : {};
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
