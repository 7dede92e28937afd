/**
 * `hsm-bridge cert create-csr`: a PKCS#10 request for the configured device key (token or
 * file), signed by that key, for the CA (or Cumulocity) to issue device.cert_path from.
 */
import type { Command } from "commander";
import { ConfigError, writeFileAtomic } from "../config/mod.ts";
import { createCsr, parseSubject, schemeName, type Subject } from "../keys/mod.ts";
import { encodePem } from "../x509/mod.ts";
import { openConfiguredKey } from "./_keys.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./errors.ts";

interface CreateCsrOptions {
  subject?: string;
  out?: string;
}

export function registerCert(program: Command, ctx: CliContext): void {
  const cert = program.command("cert").description("Device certificate requests");

  cert.command("create-csr")
    .description("Create a certificate signing request signed by the configured device key")
    .option("--subject <dn>", "subject, e.g. CN=edge-0001,O=ACME (default: CN=<device.id>)")
    .option("--out <file>", "write the PEM request to this file instead of stdout")
    .action(async (opts: CreateCsrOptions) => {
      const config = await ctx.loadConfig();
      let subject: Subject;
      try {
        subject = parseSubject(opts.subject ?? `CN=${deviceId(config.get("device.id"))}`);
      } catch (e) {
        if (opts.subject !== undefined) throw new UsageError((e as Error).message);
        throw e;
      }
      // No certificate check: the request is for a key that may have no certificate yet.
      const key = await openConfiguredKey(config, { certificate: null });
      try {
        const pem = encodePem("CERTIFICATE REQUEST", await createCsr(key, subject));
        if (opts.out === undefined) return ctx.print(pem);
        await writeFileAtomic(opts.out, pem, { newFileMode: 0o644 });
        const dn = subject.map(([n, v]) => `${n}=${v}`).join(",");
        ctx.io.stderr(
          `Wrote a certificate request for "${dn}" signed by ${key.description} ` +
            `(${schemeName(key.schemes[0])}) to ${opts.out}\n`,
        );
      } finally {
        await key.close();
      }
    });
}

function deviceId(id: string | undefined): string {
  if (id === undefined) {
    throw new ConfigError(
      `No device id for the request's CN: pass --subject CN=NAME or set device.id ` +
        `("hsm-bridge config set device.id edge-0001")`,
      { key: "device.id" },
    );
  }
  // A CN made of the id must survive parseSubject's escaping rules.
  return id.replace(/[\\,]/g, (c) => `\\${c}`);
}
