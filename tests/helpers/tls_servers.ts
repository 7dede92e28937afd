/**
 * Reference TLS servers for interop tests: OpenSSL's s_server on a random loopback port, and
 * GnuTLS's gnutls-serv, which binds every address and so runs in its own network namespace
 * together with the client command (`unshare -n`, loopback brought up inside).
 */
import { freePort } from "./ports.ts";
import { run, TestProcess } from "./process.ts";

export interface ServerCredentials {
  certPath: string;
  keyPath: string;
  /** CA that client certificates must chain to. */
  caPath: string;
}

/**
 * `openssl s_server -tls1_3 -Verify 2` (a client certificate is required), or with `extra`
 * instead of those flags. Its output is line-buffered (stdbuf): s_server reports events such
 * as a KeyUpdate with printf, which a pipe would otherwise hold back. `env` reaches s_server
 * (OPENSSL_CONF, for options it has no flag for).
 */
export async function startOpensslServer(
  creds: ServerCredentials,
  extra: string[] = ["-tls1_3", "-Verify", "2"],
  host: "127.0.0.1" | "::1" = "127.0.0.1",
  env?: Record<string, string>,
): Promise<{ port: number; process: TestProcess }> {
  const port = freePort(host);
  const process = new TestProcess("stdbuf", [
    "-oL",
    "openssl",
    "s_server",
    "-accept",
    host === "::1" ? `[::1]:${port}` : `127.0.0.1:${port}`,
    "-cert",
    creds.certPath,
    "-key",
    creds.keyPath,
    "-CAfile",
    creds.caPath,
    ...extra,
  ], { stdin: true, env });
  await process.waitForOutput(/ACCEPT/);
  return { port, process };
}

/**
 * Runs `client` (argv) inside a fresh network namespace where gnutls-serv listens on
 * 127.0.0.1:`port` with `--require-client-cert`; returns the client's result and the server's
 * output. The namespace, and everything in it, is gone when this returns.
 */
export async function runAgainstGnutls(
  creds: ServerCredentials,
  client: string[],
  opts: { env?: Record<string, string>; port?: number; priority?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string; port: number }> {
  const port = opts.port ?? 8443;
  const script = `
    set -u
    ip link set lo up
    gnutls-serv --port ${port} --x509certfile "$1" --x509keyfile "$2" --x509cafile "$3" \\
      --require-client-cert ${opts.priority ? `--priority "${opts.priority}"` : ""} \\
      >/tmp/gnutls-serv.$$.log 2>&1 &
    srv=$!
    for i in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.05; done
    shift 3
    "$@"
    rc=$?
    kill $srv; wait $srv 2>/dev/null
    echo "--- gnutls-serv output" >&2; cat /tmp/gnutls-serv.$$.log >&2; rm -f /tmp/gnutls-serv.$$.log
    exit $rc`;
  const r = await run("unshare", [
    "-n",
    "bash",
    "-c",
    script,
    "bash",
    creds.certPath,
    creds.keyPath,
    creds.caPath,
    ...client,
  ], { env: opts.env, allowFailure: true });
  return { ...r, port };
}
