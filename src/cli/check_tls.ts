/**
 * `hsm-bridge check tls [HOST:PORT]`: one TLS handshake (1.3, or 1.2 with a broker that has no
 * 1.3, unless c8y.bridge.tls.min_version is 1.3) with the configured key, certificate and trust
 * store, the way `run` connects to the cloud, then close_notify. Prints what was negotiated
 * (version, suite, extended master secret for TLS 1.2) and how long each phase took.
 *
 * Exit 0 when the handshake completes, 1 when it fails (the reason is printed), 78 when the
 * configuration cannot be used (no endpoint, unreadable trust store, key/certificate problem).
 */
import { HSM_TIMEOUT_MS } from "../timeouts.ts";
import type { Command } from "commander";
import { formatHostPort, type HostPort, parseHostPort, type TedgeConfig } from "../config/mod.ts";
import { connectTls, type HandshakeInfo, type TlsVersion } from "../tls/mod.ts";
import { derOf, TrustStore } from "../x509/mod.ts";
import { loadDeviceCertificate, openConfiguredKey } from "./_keys.ts";
import { checkGroup } from "./check_key.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./errors.ts";

/** The handshake failed: a runtime failure (exit 1) that names the target and the reason. */
export class TlsCheckError extends Error {
  constructor(target: string, cause: unknown) {
    super(`TLS handshake with ${target} failed: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "TlsCheckError";
  }
}

/** c8y.bridge.tls.min_version as the TLS client's minVersion. */
export function tlsMinVersion(config: TedgeConfig): TlsVersion {
  return config.require("c8y.bridge.tls.min_version") === "1.3" ? "TLSv1.3" : "TLSv1.2";
}

/** How long to wait for the server's verdict on our certificate after the handshake. */
const ACCEPTANCE_WAIT_MS = 2000;

interface CheckTlsOptions {
  servername?: string;
  json?: boolean;
  timeout?: string;
}

export function registerCheckTls(program: Command, ctx: CliContext): void {
  checkGroup(program).command("tls")
    .argument("[target]", "HOST:PORT to connect to (default: c8y.mqtt)")
    .description(
      "Connect with the configured key, certificate and trust store, complete a TLS " +
        "handshake (1.3, or 1.2 where the broker has no 1.3) and print what was negotiated",
    )
    .option("--servername <name>", "name to send as SNI and check the certificate against")
    .option(
      "--timeout <seconds>",
      "handshake timeout (tokens can be slow)",
      String(HSM_TIMEOUT_MS / 1000),
    )
    .option("--json", "print JSON")
    .action(async (target: string | undefined, opts: CheckTlsOptions) => {
      const config = await ctx.loadConfig();
      const endpoint = target === undefined ? config.require("c8y.mqtt") : parseTarget(target);
      const timeoutMs = parseTimeout(opts.timeout);
      const trustStorePath = config.require("c8y.root_cert_path");
      const trustStore = await TrustStore.load(trustStorePath);
      const certificate = await loadDeviceCertificate(config);
      const key = await openConfiguredKey(config, { certificate });
      const shown = formatHostPort(endpoint);
      let info: HandshakeInfo;
      let acceptance: string;
      try {
        const conn = await connectTls({
          hostname: endpoint.host,
          port: endpoint.port,
          serverName: opts.servername,
          trustStore,
          clientAuth: { certificateChain: certificate.chain.map(derOf), key },
          minVersion: tlsMinVersion(config),
          handshakeTimeoutMs: timeoutMs,
        });
        info = conn.info;
        // A TLS 1.3 server judges our certificate after our Finished: only its next record (a
        // session ticket, or an alert such as unknown_ca) says whether it accepted us. A TLS
        // 1.2 server did so before its Finished.
        const verdict = await conn.awaitAcceptance(ACCEPTANCE_WAIT_MS);
        acceptance = verdict === "closed" ? "server closed the connection" : verdict;
        await conn.close();
      } catch (e) {
        throw new TlsCheckError(shown, e);
      } finally {
        await key.close();
      }
      const report = {
        target: shown,
        trustStore: trustStorePath,
        key: key.description,
        acceptance,
        ...info,
      };
      if (opts.json) ctx.printJson(jsonReport(report));
      else ctx.print(textReport(report));
    });
}

function parseTarget(text: string): HostPort {
  try {
    return parseHostPort(text, 8883);
  } catch {
    throw new UsageError(`Invalid target "${text}": expected HOST:PORT, e.g. "127.0.0.1:8883"`);
  }
}

function parseTimeout(text: string | undefined): number {
  const s = Number(text ?? HSM_TIMEOUT_MS / 1000);
  if (!Number.isFinite(s) || s <= 0) {
    throw new UsageError(`Invalid --timeout "${text}": expected a number of seconds, e.g. 60`);
  }
  return s * 1000;
}

type Report = HandshakeInfo & {
  target: string;
  trustStore: string;
  key: string;
  acceptance: string;
};

const ms = (v: number | undefined) => v === undefined ? "-" : `${v.toFixed(1)} ms`;

function textReport(r: Report): string {
  const client = !r.clientCertificateRequested
    ? "not requested by the server"
    : r.clientCertificateWithheld
    ? `requested; none sent: ${r.clientCertificateWithheld}`
    : `requested; signed with ${r.clientSignatureScheme} by ${r.key}`;
  return [
    `TLS handshake with ${r.target} completed`,
    `  protocol       ${r.version}${
      r.extendedMasterSecret ? " with extended master secret (RFC 7627), no renegotiation" : ""
    }`,
    `  cipher suite   ${r.suite}`,
    `  key exchange   ${r.group}${r.hrr ? " (after HelloRetryRequest)" : ""}`,
    `  server name    ${r.serverName}${r.sni ? "" : " (IP address: no SNI sent)"}`,
    `  server cert    ${r.serverSubject} (chain of ${r.serverChain.length}, ` +
    `trusted via ${r.trustStore})`,
    `  server signs   ${r.serverSignatureScheme}`,
    `  client auth    ${client}`,
    `  after          ${acceptanceText(r.acceptance)}`,
    `  alpn           ${r.alpn ?? "-"}`,
    `  timings        tcp ${ms(r.timings.tcpMs)}, handshake ${ms(r.timings.handshakeMs)}, ` +
    `server auth ${ms(r.timings.serverAuthMs)}, signature ${ms(r.timings.signatureMs)}`,
  ].join("\n");
}

function acceptanceText(acceptance: string): string {
  if (acceptance === "accepted") return "the server accepted the connection";
  if (acceptance === "silent") return "no word from the server (no refusal either)";
  return acceptance;
}

function jsonReport(r: Report): Record<string, unknown> {
  const { serverChain, ...rest } = r;
  return { ...rest, serverChainLength: serverChain.length };
}
