/**
 * Entry points: `connectTls` (TCP + handshake) and `startTls` (handshake over a transport the
 * caller opened). Both resolve the options, run the handshake under one deadline, and on any
 * failure send the right alert, close the transport and throw a TlsError.
 */

import { HSM_TIMEOUT_MS } from "../timeouts.ts";
import { getLogger } from "../log.ts";
import { parseServerName, TrustStore } from "../x509/mod.ts";
import {
  checkCipherSuites,
  cipherSuiteInfo,
  cipherSuiteName,
  DEFAULT_CIPHER_SUITES,
} from "./cipher_suites.ts";
import { asTlsError, TlsLocalError, TlsTimeoutError } from "./errors.ts";
import { connectTcp, TlsConnectionImpl } from "./connection.ts";
import { ClientHandshake, type HandshakeConfig, type HandshakeOutcome } from "./handshake/mod.ts";
import { checkGroups, DEFAULT_GROUPS, groupName } from "./handshake/mod.ts";
import { schemeName } from "../keys/mod.ts";
import { checkAlpnProtocols } from "./messages/mod.ts";
import type { HandshakeInfo, TlsClientOptions, TlsConnection } from "./options.ts";
import { systemRandom } from "./random.ts";
import { RecordLayer } from "./record/mod.ts";
import { x509ChainVerifier } from "./handshake/mod.ts";
import { closeQuietly, type RawTransport } from "./transport.ts";
import { Tls12Session } from "./tls12_session.ts";

const log = getLogger("tls");

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = HSM_TIMEOUT_MS;
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** Connects over TCP and runs the handshake (TLS 1.3, or TLS 1.2 unless minVersion says no). */
export async function connectTls(options: TlsClientOptions): Promise<TlsConnection> {
  const config = resolveConfig(options);
  checkPort(options.port);
  const host = options.hostname.replace(/^\[(.*)\]$/, "$1");
  const target = `${host.includes(":") ? `[${host}]` : host}:${options.port}`;
  return await withDeadline(options, target, async (onExpire, phase) => {
    phase.name = "while connecting (TCP)";
    const started = performance.now();
    const tcp = await connectTcp(host, options.port, target);
    const tcpMs = performance.now() - started;
    phase.name = "during the handshake";
    if (!onExpire(() => closeQuietly(tcp.conn))) throw new Error("expired"); // deadline passed
    return await runHandshake(tcp.conn, config, readTimeout(options), {
      tcpMs,
      remoteAddress: tcp.remoteAddress,
    });
  });
}

/** Runs the handshake over a transport the caller has opened (tests, proxies). */
export async function startTls(
  transport: RawTransport,
  options: Omit<TlsClientOptions, "port"> & { port?: number },
): Promise<TlsConnection> {
  const config = resolveConfig(options);
  return await startTlsWithConfig(transport, config, options);
}

/** startTls with a resolved config (tests replace the chain verifier or shape ClientHellos). */
export async function startTlsWithConfig(
  transport: RawTransport,
  config: HandshakeConfig,
  options: Pick<TlsClientOptions, "handshakeTimeoutMs" | "readTimeoutMs" | "signal">,
): Promise<TlsConnection> {
  return await withDeadline(options, config.serverName, async (onExpire) => {
    onExpire(() => closeQuietly(transport));
    return await runHandshake(transport, config, readTimeout(options), {
      tcpMs: undefined,
      remoteAddress: undefined,
    });
  });
}

/** Validates options and fills in defaults; throws RangeError/TypeError naming the value. */
export function resolveConfig(options: Omit<TlsClientOptions, "port">): HandshakeConfig {
  if (typeof options.hostname !== "string" || options.hostname === "") {
    throw new TypeError("Invalid hostname: it is empty");
  }
  const serverName = options.serverName ?? options.hostname.replace(/^\[(.*)\]$/, "$1");
  const parsed = parseServerName(serverName);
  if (!parsed) {
    throw new RangeError(
      `Invalid server name "${serverName}": expected a DNS name or an IP address`,
    );
  }
  if (!(options.trustStore instanceof TrustStore)) {
    throw new TypeError("Invalid trustStore: expected a TrustStore from the x509 module");
  }
  if (options.clientAuth && options.clientAuth.certificateChain.length === 0) {
    throw new RangeError("Invalid clientAuth: the certificate chain is empty");
  }
  if (options.alpn) checkAlpnProtocols(options.alpn);
  for (
    const [name, v] of [["handshakeTimeoutMs", options.handshakeTimeoutMs], [
      "readTimeoutMs",
      options.readTimeoutMs,
    ]] as const
  ) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new RangeError(`Invalid ${name} ${v}: expected a positive number of milliseconds`);
    }
  }
  const minVersion = options.minVersion ?? "TLSv1.2";
  if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") {
    throw new RangeError(`Invalid minVersion "${minVersion}": expected "TLSv1.2" or "TLSv1.3"`);
  }
  const allowTls12 = minVersion === "TLSv1.2";
  return {
    serverName,
    // RFC 6066 3: no IP literals in SNI.
    sni: parsed.kind === "dns" ? parsed.name : undefined,
    trustStore: options.trustStore,
    clientAuth: options.clientAuth,
    alpn: options.alpn,
    cipherSuites: offeredSuites(options.cipherSuites ?? DEFAULT_CIPHER_SUITES, allowTls12),
    groups: checkGroups(options.groups ?? DEFAULT_GROUPS),
    allowTls12,
    random: options.random ?? systemRandom,
    verifyChain: x509ChainVerifier,
    now: undefined,
  };
}

/** The suites to offer: checked, and only TLS 1.3 ones when TLS 1.2 is not allowed. */
function offeredSuites(codes: readonly number[], allowTls12: boolean): readonly number[] {
  const suites = checkCipherSuites(codes);
  if (allowTls12) return suites;
  const tls13 = suites.filter((c) => cipherSuiteInfo(c)!.version === "TLSv1.3");
  if (tls13.length === 0) {
    throw new RangeError("Invalid cipherSuites: no TLS 1.3 suite, and minVersion is TLSv1.3");
  }
  return tls13;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Invalid port ${port}: expected 1 to 65535`);
  }
}

function readTimeout(options: Pick<TlsClientOptions, "readTimeoutMs">): number {
  return options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
}

/**
 * Runs `work` under the handshake deadline and the abort signal. On expiry the registered
 * cleanup closes the socket (which ends any pending read) and the caller gets a
 * TlsTimeoutError at once, even if `work` is stuck in a slow signer; a connection that `work`
 * still produces later is closed. `onExpire` returns false when the deadline already passed.
 */
async function withDeadline(
  options: Pick<TlsClientOptions, "handshakeTimeoutMs" | "signal">,
  target: string,
  work: (
    onExpire: (cleanup: () => void) => boolean,
    phase: { name: string },
  ) => Promise<TlsConnection>,
): Promise<TlsConnection> {
  const ms = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const signal = options.signal;
  if (signal?.aborted) {
    throw new TlsLocalError(`TLS connection to ${target} aborted`, undefined, {
      cause: signal.reason,
    });
  }
  let expired = false;
  const phase = { name: "during the handshake" };
  const cleanups: (() => void)[] = [];
  const expire = () => {
    expired = true;
    for (const c of cleanups) c();
  };
  return await new Promise<TlsConnection>((resolve, reject) => {
    const timer = setTimeout(() => {
      expire();
      reject(
        new TlsTimeoutError(
          `TLS connection to ${target} timed out ${phase.name}: no result within ${ms} ms`,
        ),
      );
    }, ms);
    const onAbort = () => {
      expire();
      clearTimeout(timer);
      reject(
        new TlsLocalError(`TLS connection to ${target} aborted`, undefined, {
          cause: signal!.reason,
        }),
      );
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    work((cleanup) => {
      if (expired) {
        cleanup();
        return false;
      }
      cleanups.push(cleanup);
      return true;
    }, phase).then(
      (conn) => {
        if (expired) conn.close().catch(() => {});
        else resolve(conn);
      },
      (err) => {
        if (!expired) reject(err);
      },
    ).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}

/** The handshake proper; on failure sends the alert, closes and rethrows as a TlsError. */
async function runHandshake(
  transport: RawTransport,
  config: HandshakeConfig,
  readTimeoutMs: number,
  peer: { tcpMs: number | undefined; remoteAddress: string | undefined },
): Promise<TlsConnection> {
  const layer = new RecordLayer(transport, readTimeoutMs);
  const started = performance.now();
  let outcome: HandshakeOutcome;
  try {
    outcome = await new ClientHandshake(layer, config).run();
  } catch (err) {
    const e = asTlsError(err, "TLS handshake failed");
    await layer.abort(e.alertToSend);
    log.debug("TLS handshake failed", { server: config.serverName, error: e.message });
    throw e;
  }
  const info = describe(config, outcome, {
    ...peer,
    handshakeMs: performance.now() - started,
  });
  log.debug("TLS handshake complete", {
    server: config.serverName,
    version: info.version,
    suite: info.suite,
    group: info.group,
    hrr: info.hrr,
  });
  return new TlsConnectionImpl(layer, outcome.secrets ?? new Tls12Session(outcome.suite), info);
}

function describe(
  config: HandshakeConfig,
  o: HandshakeOutcome,
  t: { tcpMs: number | undefined; remoteAddress: string | undefined; handshakeMs: number },
): HandshakeInfo {
  return {
    version: o.version,
    extendedMasterSecret: o.version === "TLSv1.2" ? true : undefined,
    suite: cipherSuiteName(o.suite.code),
    suiteCode: o.suite.code,
    group: groupName(o.group),
    groupCode: o.group,
    hrr: o.hrr,
    alpn: o.alpn,
    serverName: config.serverName,
    sni: config.sni,
    serverSubject: o.server.subject,
    serverChain: o.chain,
    serverSignatureScheme: schemeName(o.serverScheme),
    serverSignatureSchemeCode: o.serverScheme,
    clientCertificateRequested: o.clientCertificateRequested,
    clientSignatureScheme: o.clientSignatureScheme === undefined
      ? undefined
      : schemeName(o.clientSignatureScheme),
    clientSignatureSchemeCode: o.clientSignatureScheme,
    clientCertificateWithheld: o.clientCertificateWithheld,
    remoteAddress: t.remoteAddress,
    timings: {
      tcpMs: t.tcpMs,
      handshakeMs: t.handshakeMs,
      serverAuthMs: o.serverAuthMs,
      signatureMs: o.signatureMs,
    },
  };
}
