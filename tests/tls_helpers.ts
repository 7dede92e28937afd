/**
 * Fixtures for the TLS client's integration tests: a PKI with a server certificate and one
 * device certificate per client key type (keys loaded from files by the key provider), client
 * options, and a guard that turns a hang into a test failure.
 *
 * Builds on tests/helpers (PKI, ports, processes, reference servers).
 */
import { type ClosableSigningKey, loadFileKey } from "../src/keys/mod.ts";
import type { TlsClientOptions, TlsConnection } from "../src/tls/mod.ts";
import { decodePem, TrustStore } from "../src/x509/mod.ts";
import { type IssuedCertificate, type KeyKind, TestPki } from "./helpers/pki.ts";
import { tempDir, type TestProcess } from "./helpers/process.ts";
import {
  runAgainstGnutls,
  type ServerCredentials,
  startOpensslServer,
} from "./helpers/tls_servers.ts";

/** gnutls-serv's priority string for TLS 1.2 only. */
export const GNUTLS_TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2";

/** Client key types the issue asks for: P-256, P-384, RSA-2048 (PSS) and Ed25519. */
export const CLIENT_KINDS = ["p256", "p384", "rsa2048", "ed25519"] as const;
export type ClientKind = typeof CLIENT_KINDS[number];

export interface ClientIdentity {
  readonly certificateChain: Uint8Array[];
  readonly key: ClosableSigningKey;
  readonly cert: IssuedCertificate;
}

export interface TlsFixture {
  readonly dir: string;
  readonly pki: TestPki;
  readonly server: IssuedCertificate;
  /** s_server / gnutls-serv / mosquitto credentials: server cert and key, client CA. */
  readonly creds: ServerCredentials;
  readonly trustStore: TrustStore;
  readonly clients: Map<ClientKind, ClientIdentity>;
  close(): Promise<void>;
}

/** A PKI under `dir` with a server certificate for localhost/127.0.0.1 and device keys. */
export async function tlsFixture(
  dir: string,
  kinds: readonly ClientKind[] = CLIENT_KINDS,
  serverKind: KeyKind = "p256",
): Promise<TlsFixture> {
  const pki = await TestPki.create(`${dir}/pki`);
  const server = await pki.server("server", { kind: serverKind });
  const clients = new Map<ClientKind, ClientIdentity>();
  for (const kind of kinds) {
    const cert = await pki.device(`device-${kind}`, `device-${kind}`, { kind });
    clients.set(kind, {
      cert,
      certificateChain: decodePem(cert.chainPem).map((b) => b.der),
      key: await loadFileKey(cert.keyPath!),
    });
  }
  return {
    dir,
    pki,
    server,
    creds: { certPath: server.certPath, keyPath: server.keyPath!, caPath: pki.caPath },
    trustStore: await TrustStore.load(pki.caPath),
    clients,
    async close() {
      for (const c of clients.values()) await c.key.close();
    },
  };
}

/** Options for connecting to 127.0.0.1:`port` with the fixture's trust store (and a key). */
export function clientOptions(
  fx: TlsFixture,
  port: number,
  kind: ClientKind | null = "p256",
  extra: Partial<TlsClientOptions> = {},
): TlsClientOptions {
  const id = kind ? fx.clients.get(kind) : undefined;
  return {
    hostname: "127.0.0.1",
    port,
    trustStore: fx.trustStore,
    clientAuth: id ? { certificateChain: id.certificateChain, key: id.key } : undefined,
    handshakeTimeoutMs: 15_000,
    readTimeoutMs: 5_000,
    ...extra,
  };
}

/** Resolves `p`, or fails the test after `ms` naming `what` (a hang must never pass). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const td = new TextDecoder();

/** Reads until the received text contains `text`; returns everything read. */
export async function readUntil(conn: TlsConnection, text: string, ms = 10_000): Promise<string> {
  let got = "";
  while (!got.includes(text)) {
    const chunk = await within(conn.read(), ms, `reading "${text}"`);
    if (chunk === null) throw new Error(`Stream ended before "${text}"; got: ${got}`);
    got += td.decode(chunk, { stream: true });
  }
  return got;
}

/** A fixture of `kinds` in a fresh temporary directory, for the length of `fn`. */
export async function withTlsFixture(
  prefix: string,
  kinds: readonly ClientKind[],
  fn: (fx: TlsFixture, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir(prefix);
  const fx = await tlsFixture(dir.path, kinds);
  try {
    await fn(fx, dir.path);
  } finally {
    await fx.close();
  }
}

/** `openssl s_server` with `extra` (and `env`), for the length of `fn`. */
export async function withOpensslServer(
  creds: ServerCredentials,
  extra: string[],
  fn: (port: number, server: TestProcess) => Promise<void>,
  env?: Record<string, string>,
): Promise<void> {
  const { port, process } = await startOpensslServer(creds, extra, "127.0.0.1", env);
  try {
    await fn(port, process);
  } finally {
    await process.stop();
  }
}

const te = new TextEncoder();

/** Data both ways: client -> s_server's stdout, s_server's stdin -> client. */
export async function exchange(
  conn: TlsConnection,
  server: TestProcess,
  tag: string,
): Promise<void> {
  await conn.write(te.encode(`client says ${tag}\n`));
  await server.waitForOutput(new RegExp(`client says ${tag}`));
  await server.write(`server says ${tag}\n`);
  await readUntil(conn, `server says ${tag}`);
}

const GNUTLS_CLIENT = new URL("./tls_gnutls_client.ts", import.meta.url).pathname;

/**
 * tests/tls_gnutls_client.ts with the fixture's `kind` key against gnutls-serv (in its own
 * network namespace, `priority` its --priority); returns the client's JSON result line.
 */
export async function runGnutlsClient(
  fx: TlsFixture,
  kind: ClientKind,
  opts: { suite?: number; priority?: string } = {},
) {
  const id = fx.clients.get(kind)!;
  const r = await runAgainstGnutls(fx.creds, [
    Deno.execPath(),
    "run",
    "--quiet",
    "-A",
    GNUTLS_CLIENT,
    "8443",
    fx.pki.caPath,
    id.cert.chainPath,
    id.cert.keyPath!,
    ...(opts.suite ? [String(opts.suite)] : []),
  ], {
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    port: 8443,
    priority: opts.priority,
  });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return { result: JSON.parse(line) as Record<string, unknown>, r };
  } catch {
    throw new Error(`gnutls client printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}
