/**
 * Section 3: TLS 1.3 handshake time against the cloud broker (mosquitto, client certificate
 * required), from the client's side: TCP connect + handshake until the client's Finished is
 * written (what every TLS 1.3 client calls "connected"), median of N per method.
 *
 *   ours-token  src/tls connectTls, SoftHSM P-256 key (the signature goes through PKCS#11)
 *   ours-file   src/tls connectTls, P-256 file key (WebCrypto)
 *   deno        Deno.connectTls + handshake(), same file key (rustls)
 *   openssl     `openssl s_time -new` (full handshakes in a loop inside one process; the mean
 *               per handshake, median of 3 runs) and, for reference, the wall time of one
 *               `openssl s_client` process per handshake (includes process start-up)
 *
 * Methods are interleaved (one of each, N times) so machine noise spreads over all of them.
 */
import { decodePem } from "../src/x509/mod.ts";
import { KeyUri, loadFileKey, openSigningKey, Secret } from "../src/keys/mod.ts";
import type { SigningKey } from "../src/keys/mod.ts";
import { TrustStore } from "../src/x509/mod.ts";
import { connectTls } from "../src/tls/mod.ts";
import { run } from "../tests/helpers/process.ts";
import { checkInterrupted } from "./cleanup.ts";
import type { BenchEnv } from "./rig.ts";
import { median } from "./stats.ts";

export const HANDSHAKE_METHODS = [
  "ours-token",
  "ours-file",
  "deno",
  "openssl-s_time",
  "openssl-s_client-process",
] as const;
export type HandshakeMethod = typeof HANDSHAKE_METHODS[number];

export interface HandshakeSamples {
  /** Milliseconds per handshake, one entry per sample (s_time: one per run, a mean). */
  ms: Partial<Record<HandshakeMethod, number[]>>;
  /** Our client's own split of the handshake (from HandshakeInfo.timings), medians. */
  oursDetail: Partial<Record<"ours-token" | "ours-file", OursDetail>>;
  errors: string[];
}

export interface OursDetail {
  /** TCP connect. */
  tcpMs: number;
  /** ClientHello to our Finished. */
  handshakeMs: number;
  /** Server chain + CertificateVerify verification (part of handshakeMs). */
  serverAuthMs: number;
  /** Our CertificateVerify signature (part of handshakeMs). */
  signatureMs: number;
}

type Sample = { ms: number; detail?: OursDetail };

export interface HandshakeConfig {
  count: number;
  warmup: number;
  sTimeRuns: number;
  sTimeSeconds: number;
}

export async function runHandshakes(
  env: BenchEnv,
  cfg: HandshakeConfig,
  tmp: string,
  progress: (line: string) => void,
): Promise<HandshakeSamples> {
  const out: HandshakeSamples = { ms: {}, oursDetail: {}, errors: [] };
  const broker = await env.cloudBroker(`${tmp}/handshake-cloud`);
  const keys: { close(): Promise<void> }[] = [];
  try {
    const trustStore = await TrustStore.load(env.pki.caPath);
    const der = (pem: string) => decodePem(pem).map((b) => b.der);
    // The module reads SOFTHSM2_CONF at C_Initialize.
    Deno.env.set("SOFTHSM2_CONF", env.hsm.conf);
    const tokenKey = await openSigningKey({
      kind: "pkcs11",
      modulePath: env.hsm.module,
      uri: KeyUri.parse(env.tokenKey.uri),
      pin: new Secret(env.token.pin),
      certificateSpki: env.tokenKey.spki,
    });
    keys.push(tokenKey);
    const fileKey = await loadFileKey(env.fileDevice.keyPath!);
    keys.push(fileKey);
    const filePem = await Deno.readTextFile(env.fileDevice.keyPath!);
    const ours = (key: SigningKey, chainPem: string) => async () => {
      const t0 = performance.now();
      const conn = await connectTls({
        hostname: "127.0.0.1",
        port: broker.port,
        trustStore,
        clientAuth: { certificateChain: der(chainPem), key },
      });
      const ms = performance.now() - t0;
      const t = conn.info.timings;
      await conn.close();
      const detail = {
        tcpMs: t.tcpMs ?? NaN,
        handshakeMs: t.handshakeMs,
        serverAuthMs: t.serverAuthMs,
        signatureMs: t.signatureMs ?? NaN,
      };
      return { ms, detail };
    };
    const methods: [HandshakeMethod, () => Promise<Sample>][] = [
      ["ours-token", ours(tokenKey, env.tokenDevice.chainPem)],
      ["ours-file", ours(fileKey, env.fileDevice.chainPem)],
      ["deno", async () => {
        const t0 = performance.now();
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: broker.port,
          caCerts: [env.caPem],
          cert: env.fileDevice.chainPem,
          key: filePem,
        });
        await conn.handshake();
        const ms = performance.now() - t0;
        conn.close();
        return { ms };
      }],
      ["openssl-s_client-process", () => sClient(env, broker.port)],
    ];
    const detail: Record<string, OursDetail[]> = {};
    for (let i = 0; i < cfg.warmup + cfg.count; i++) {
      checkInterrupted();
      for (const [name, fn] of methods) {
        try {
          const r = await fn();
          if (i < cfg.warmup) continue;
          (out.ms[name] ??= []).push(r.ms);
          if (r.detail) (detail[name] ??= []).push(r.detail);
        } catch (e) {
          out.errors.push(`${name}: ${(e as Error).message}`.slice(0, 2000));
        }
      }
    }
    for (const [name, d] of Object.entries(detail)) {
      const med = (k: keyof OursDetail) => median(d.map((x) => x[k]));
      out.oursDetail[name as "ours-token"] = {
        tcpMs: med("tcpMs"),
        handshakeMs: med("handshakeMs"),
        serverAuthMs: med("serverAuthMs"),
        signatureMs: med("signatureMs"),
      };
    }
    for (let r = 0; r < cfg.sTimeRuns; r++) {
      checkInterrupted();
      try {
        (out.ms["openssl-s_time"] ??= []).push(await sTime(env, broker.port, cfg.sTimeSeconds));
      } catch (e) {
        out.errors.push(`openssl s_time: ${(e as Error).message}`.slice(0, 2000));
      }
    }
    for (const name of HANDSHAKE_METHODS) {
      const v = out.ms[name];
      if (v?.length) progress(`  ${name}: median ${median(v).toFixed(2)} ms (${v.length} samples)`);
    }
    return out;
  } finally {
    for (const k of keys) await k.close().catch(() => {});
    await broker.stop("SIGKILL");
  }
}

function opensslTlsArgs(env: BenchEnv): string[] {
  return [
    "-tls1_3",
    "-CAfile",
    env.pki.caPath,
    "-cert",
    env.fileDevice.chainPath,
    "-key",
    env.fileDevice.keyPath!,
  ];
}

/** One `openssl s_client` process: connect, handshake, EOF on stdin, exit. */
async function sClient(env: BenchEnv, port: number): Promise<{ ms: number }> {
  const t0 = performance.now();
  const r = await run("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    ...opensslTlsArgs(env),
    "-verify_return_error",
    "-brief",
  ], { stdin: "", allowFailure: true });
  const ms = performance.now() - t0;
  if (!/CONNECTION ESTABLISHED/.test(r.stdout + r.stderr)) {
    throw new Error(`openssl s_client did not connect (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return { ms };
}

/** `openssl s_time -new` for `seconds`: wall time of the process / handshakes completed. */
async function sTime(env: BenchEnv, port: number, seconds: number): Promise<number> {
  const t0 = performance.now();
  const r = await run("openssl", [
    "s_time",
    "-connect",
    `127.0.0.1:${port}`,
    "-new",
    "-verify",
    "2",
    ...opensslTlsArgs(env),
    "-time",
    String(seconds),
  ], { allowFailure: true });
  const wall = performance.now() - t0;
  const m = /(\d+) connections in [\d.]+s/.exec(r.stdout);
  if (!m || Number(m[1]) === 0) {
    throw new Error(`unexpected s_time output (exit ${r.code}): ${(r.stdout + r.stderr).trim()}`);
  }
  return wall / Number(m[1]);
}
