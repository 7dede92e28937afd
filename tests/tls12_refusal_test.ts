/**
 * Unsafe TLS 1.2 servers (OpenSSL's s_server, configured as older or careless servers are),
 * each refused within the timeout with a one-line reason: no extended master secret, only CBC
 * or RSA key exchange suites, and a request to renegotiate.
 */
import assert from "node:assert/strict";
import {
  connectTls,
  TlsAlertReceivedError,
  type TlsError,
  TlsPeerIncompatibleError,
} from "../src/tls/mod.ts";
import type { TestProcess } from "./helpers/process.ts";
import type { ServerCredentials } from "./helpers/tls_servers.ts";
import {
  clientOptions,
  type TlsFixture,
  within,
  withOpensslServer,
  withTlsFixture,
} from "./tls_helpers.ts";

const withFixture = (fn: (fx: TlsFixture, dir: string) => Promise<void>) =>
  withTlsFixture("tls12-refusal-", ["p256"], fn);
const withServer = (
  creds: ServerCredentials,
  extra: string[],
  fn: (port: number, server: TestProcess) => Promise<void>,
  env?: Record<string, string>,
) => withOpensslServer(creds, ["-tls1_2", ...extra], fn, env);

function oneLine(cls: new (...a: never[]) => TlsError, alert: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `${(e as Error)?.name}: ${(e as Error)?.message}`);
    const got = e instanceof TlsAlertReceivedError ? e.received : (e as TlsError).alertToSend;
    assert.equal(got, alert, (e as Error).message);
    assert.match((e as Error).message, message);
    assert.equal((e as Error).message.split("\n").length, 1, "one line");
    return true;
  };
}

Deno.test("TLS 1.2: a server without extended master secret is refused, and hears handshake_failure", async () => {
  await withFixture(async (fx, dir) => {
    // OpenSSL 3.0's s_server has no flag for it; SSL_CONF's Options does (system_default).
    const conf = `${dir}/no-ems.cnf`;
    await Deno.writeTextFile(
      conf,
      "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n" +
        "[tls]\nOptions = -ExtendedMasterSecret\n",
    );
    await withServer(fx.creds, ["-Verify", "2"], async (port, s) => {
      await within(
        assert.rejects(
          connectTls(clientOptions(fx, port)),
          oneLine(
            TlsPeerIncompatibleError,
            "handshake_failure",
            /^Server 127\.0\.0\.1 does not support the extended master secret \(RFC 7627\), which hsm-bridge requires for TLS 1\.2$/,
          ),
        ),
        20_000,
        "no EMS",
      );
      await s.waitForOutput(/alert handshake failure/i, 5_000);
    }, { OPENSSL_CONF: conf });
  });
});

Deno.test("TLS 1.2: a server with only CBC or only RSA key exchange suites finds nothing in common", async () => {
  await withFixture(async (fx) => {
    const rsa = await fx.pki.server("rsa-server", { kind: "rsa2048" });
    const rsaCreds = { ...fx.creds, certPath: rsa.certPath, keyPath: rsa.keyPath! };
    for (
      const [creds, ciphers] of [
        [fx.creds, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"], // ECDHE, but CBC
        [rsaCreds, "AES128-GCM-SHA256:AES256-SHA"], // RSA key exchange
      ] as const
    ) {
      await withServer(creds, ["-cipher", ciphers], async (port, s) => {
        await within(
          assert.rejects(
            connectTls(clientOptions(fx, port)),
            oneLine(
              TlsAlertReceivedError,
              "handshake_failure",
              /^Server sent alert "handshake_failure" while waiting for ServerHello: the server found no common cipher suite/,
            ),
          ),
          20_000,
          ciphers,
        );
        await s.waitForOutput(/no shared cipher/i, 5_000);
      });
    }
  });
});

Deno.test("TLS 1.2: a server's request to renegotiate is declined, and its refusal ends the connection with the reason", async () => {
  await withFixture(async (fx) => {
    await withServer(fx.creds, ["-Verify", "2"], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      await conn.write(new TextEncoder().encode("before\n"));
      await s.waitForOutput(/before/);
      await s.write("R\n"); // s_server: SSL_renegotiate, a HelloRequest goes out
      await within(
        assert.rejects(
          conn.read(),
          oneLine(
            TlsAlertReceivedError,
            "handshake_failure",
            /^Server sent alert "handshake_failure" after we declined its request to renegotiate \(hsm-bridge never renegotiates TLS 1\.2\)$/,
          ),
        ),
        20_000,
        "renegotiation",
      );
      // OpenSSL took our warning for the refusal it is.
      await s.waitForOutput(/no renegotiation/i, 5_000);
    });
  });
});

Deno.test("TLS 1.2: a key the server accepts no scheme of sends no certificate; a server that requires one refuses, and the error says why", async () => {
  await withFixture(async (fx) => {
    const sigalgs = ["-client_sigalgs", "RSA+SHA256:RSA-PSS+SHA256"];
    // Optional (-verify): the handshake completes without a client certificate.
    await withServer(fx.creds, ["-verify", "2", ...sigalgs], async (port) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "optional");
      assert.equal(conn.info.clientCertificateRequested, true);
      assert.equal(conn.info.clientSignatureScheme, undefined);
      assert.match(conn.info.clientCertificateWithheld!, /key supports ecdsa_secp256r1_sha256$/);
      await conn.close();
    });
    // Required (-Verify): a TLS 1.2 server refuses before its Finished, so the handshake fails.
    await withServer(fx.creds, ["-Verify", "2", ...sigalgs], async (port, s) => {
      await within(
        assert.rejects(
          connectTls(clientOptions(fx, port)),
          oneLine(
            TlsAlertReceivedError,
            "handshake_failure",
            /; we sent no client certificate because the server accepts no signature scheme that .* can produce: server offers rsa_pkcs1_sha256, rsa_pss_rsae_sha256; key supports ecdsa_secp256r1_sha256$/,
          ),
        ),
        20_000,
        "required",
      );
      await s.waitForOutput(/peer did not return a certificate/i, 5_000);
    });
  });
});
