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
import type { ServerCredentials } from "./helpers/tls_servers.ts";

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
