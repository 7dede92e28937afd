/**
 * Refusals against real servers: each bad server ends in an error that says what was wrong,
 * within the timeout, and the server hears the right alert.
 */
import assert from "node:assert/strict";
import {
  connectTls,
  TlsAlertReceivedError,
  TlsCertificateError,
  type TlsError,
  TlsLocalError,
  TlsPeerIncompatibleError,
  TlsPeerMisbehavedError,
} from "../src/tls/mod.ts";
import { der, TrustStore } from "../src/x509/mod.ts";
import { x509 } from "../src/x509/testing.ts";
import { TestPki } from "./helpers/pki.ts";
import { freePort } from "./helpers/ports.ts";
import {
  clientOptions,
  type TlsFixture,
  within,
  withOpensslServer,
  withTlsFixture,
} from "./tls_helpers.ts";
import type { ServerCredentials } from "./helpers/tls_servers.ts";

const withFixture = (fn: (fx: TlsFixture, dir: string) => Promise<void>) =>
  withTlsFixture("tls-refusal-", ["p256", "ed25519"], fn);
const withServer = withOpensslServer;

type Check = { cls: new (...a: never[]) => TlsError; alert?: string; message: RegExp };

/** A server's refusal of our certificate, which TLS 1.3 servers send after our Finished. */
async function refusedAfterFinished(
  fx: TlsFixture,
  port: number,
  kind: Parameters<typeof clientOptions>[2],
  check: Check,
): Promise<void> {
  const conn = await within(connectTls(clientOptions(fx, port, kind)), 20_000, "connect");
  await within(assert.rejects(conn.awaitAcceptance(5_000), matches(check)), 20_000, "read");
  await conn.close();
}

function matches(c: Check) {
  return (e: unknown) => {
    assert.ok(e instanceof c.cls, `${(e as Error)?.name}: ${(e as Error)?.message}`);
    if (c.alert) {
      // The alert the server sent for a refusal it announced, else the one we sent.
      const alert = e instanceof TlsAlertReceivedError ? e.received : (e as TlsError).alertToSend;
      assert.equal(alert, c.alert, (e as Error).message);
    }
    assert.match((e as Error).message, c.message);
    assert.equal((e as Error).message.split("\n").length, 1, "one line");
    return true;
  };
}

Deno.test("TLS client refuses servers whose certificate is untrusted, for another name, expired, a CA's, or named only in its CN", async () => {
  await withFixture(async (fx, dir) => {
    const other = await TestPki.create(`${dir}/other`, { cn: "Other CA" });
    const foreign = await other.server("foreign");
    const expired = await fx.pki.server("expired", {
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const caAsLeaf = await fx.pki.server("ca-as-leaf", { ca: true });
    // No subjectAltName: the host (127.0.0.1 here) only in the common name.
    const cnOnly = await fx.pki.issue({ name: "cn-only", cn: "127.0.0.1", usage: "server" });
    const cases: [
      string,
      ServerCredentials,
      Partial<Parameters<typeof clientOptions>[3]>,
      Check,
      RegExp,
    ][] = [
      [
        "unknown CA",
        { ...fx.creds, certPath: foreign.certPath, keyPath: foreign.keyPath! },
        {},
        {
          cls: TlsCertificateError,
          alert: "unknown_ca",
          message: /^Server certificate rejected: .*not trusted/,
        },
        /unknown ca/i,
      ],
      [
        "wrong host name",
        fx.creds,
        { serverName: "broker.example.com" },
        { cls: TlsCertificateError, message: /not valid for "broker\.example\.com"/ },
        /alert/i,
      ],
      [
        "expired",
        { ...fx.creds, certPath: expired.certPath, keyPath: expired.keyPath! },
        {},
        { cls: TlsCertificateError, alert: "certificate_expired", message: /expired/ },
        /certificate expired/i,
      ],
      [
        "a CA certificate as the server's",
        { ...fx.creds, certPath: caAsLeaf.certPath, keyPath: caAsLeaf.keyPath! },
        {},
        {
          cls: TlsCertificateError,
          alert: "bad_certificate",
          message:
            /^Server certificate rejected: Certificate "CN=localhost" is a CA certificate \(basicConstraints cA is true\), not a server certificate: a server must present an end-entity certificate$/,
        },
        /bad certificate/i,
      ],
      [
        "no subjectAltName",
        { ...fx.creds, certPath: cnOnly.certPath, keyPath: cnOnly.keyPath! },
        {},
        {
          cls: TlsCertificateError,
          alert: "bad_certificate",
          message:
            /Certificate "CN=127\.0\.0\.1" is not valid for any server name: it has no subjectAltName extension, .*; reissue it with the host name in subjectAltName, e\.g\. openssl's -addext "subjectAltName=IP:127\.0\.0\.1"$/,
        },
        /bad certificate/i,
      ],
    ];
    for (const [name, creds, extra, check, serverSaw] of cases) {
      await withServer(creds, ["-tls1_3", "-Verify", "2"], async (port, s) => {
        await within(
          assert.rejects(connectTls(clientOptions(fx, port, "p256", extra)), matches(check)),
          20_000,
          name,
        );
        await s.waitForOutput(serverSaw, 5_000);
      });
    }
  });
});

Deno.test("TLS client set to TLS 1.3 only refuses a TLS 1.2-only server (which it accepts by default)", async () => {
  // minVersion TLSv1.3 (c8y.bridge.tls.min_version 1.3): TLS 1.3 alone is offered. Without
  // it the same server is accepted (tests/tls12_openssl_test.ts).
  await withFixture(async (fx) => {
    await withServer(fx.creds, ["-tls1_2"], async (port) => {
      await within(
        assert.rejects(
          connectTls(clientOptions(fx, port, "p256", { minVersion: "TLSv1.3" })),
          (e: unknown) => {
            assert.ok(
              e instanceof TlsPeerIncompatibleError || e instanceof TlsAlertReceivedError,
              String(e),
            );
            // Either we refused the ServerHello, or the server refused first with the alert.
            const alert = e instanceof TlsAlertReceivedError ? e.received : e.alertToSend;
            assert.equal(alert, "protocol_version");
            assert.match(
              (e as Error).message,
              /does not speak TLS 1\.3.*this connection allows TLS 1\.3 only/,
            );
            return true;
          },
        ),
        20_000,
        "TLS 1.2",
      );
    });
  });
});

Deno.test("TLS client reports no common cipher suite or group as the server's handshake_failure", async () => {
  await withFixture(async (fx) => {
    const cases: [string[], Parameters<typeof clientOptions>[3]][] = [
      [["-ciphersuites", "TLS_AES_128_GCM_SHA256"], { cipherSuites: [0x1303] }],
      [["-groups", "P-384"], { groups: [0x001d, 0x0017] }],
    ];
    for (const [serverArgs, clientArgs] of cases) {
      await withServer(fx.creds, ["-tls1_3", ...serverArgs], async (port) => {
        await within(
          assert.rejects(
            connectTls(clientOptions(fx, port, "p256", clientArgs)),
            matches({
              cls: TlsAlertReceivedError,
              alert: "handshake_failure",
              message: /no common cipher suite, group or signature scheme/,
            }),
          ),
          20_000,
          serverArgs.join(" "),
        );
      });
    }
  });
});

Deno.test("TLS client sends an empty Certificate when its key cannot sign what the server accepts", async () => {
  await withFixture(async (fx) => {
    const sigalgs = ["-client_sigalgs", "ECDSA+SHA256:RSA-PSS+SHA256"];
    // RFC 8446 4.4.2: no suitable certificate, so an empty Certificate. A server that only asks
    // (-verify) lets us in; one that requires a certificate (-Verify) refuses after our
    // Finished, and the error names both scheme lists.
    await withServer(fx.creds, ["-tls1_3", "-verify", "2", ...sigalgs], async (port) => {
      const conn = await within(connectTls(clientOptions(fx, port, "ed25519")), 20_000, "optional");
      assert.equal(conn.info.clientCertificateRequested, true);
      assert.equal(conn.info.clientSignatureScheme, undefined);
      assert.match(conn.info.clientCertificateWithheld!, /key supports ed25519$/);
      assert.equal(await within(conn.awaitAcceptance(5_000), 20_000, "accepted"), "accepted");
      await conn.close();
    });
    await withServer(fx.creds, ["-tls1_3", "-Verify", "2", ...sigalgs], async (port) => {
      await refusedAfterFinished(fx, port, "ed25519", {
        cls: TlsAlertReceivedError,
        alert: "certificate_required",
        message:
          /we sent no client certificate because the server accepts no signature scheme that .* can produce: server offers ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256; key supports ed25519$/,
      });
    });
  });
});

Deno.test("TLS client reports the server's refusal of its certificate on the first read", async () => {
  await withFixture(async (fx, dir) => {
    const other = await TestPki.create(`${dir}/other`, { cn: "Other CA" });
    await withServer(fx.creds, ["-tls1_3", "-Verify", "2"], async (port) => {
      // No certificate at all: TLS 1.3 servers say so after our Finished.
      await refusedAfterFinished(fx, port, null, {
        cls: TlsAlertReceivedError,
        alert: "certificate_required",
        message: /requires a client certificate/,
      });
    });
    // s_server lets an unverifiable client certificate through unless -verify_return_error.
    const strict = ["-tls1_3", "-Verify", "2", "-verify_return_error"];
    await withServer({ ...fx.creds, caPath: other.caPath }, strict, async (port) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      await within(
        assert.rejects(
          conn.read(),
          matches({
            cls: TlsAlertReceivedError,
            alert: "unknown_ca",
            message: /does not trust the issuer of our client certificate/,
          }),
        ),
        20_000,
        "read",
      );
    });
  });
});

Deno.test("TLS client fails fast on a refused connection and on a server that is not TLS", async () => {
  await withFixture(async (fx) => {
    const port = freePort();
    await assert.rejects(
      connectTls(clientOptions(fx, port)),
      (e: unknown) =>
        e instanceof TlsLocalError && /^Cannot connect to 127\.0\.0\.1:\d+: /.test(e.message),
    );
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      const c = await listener.accept();
      await c.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
      await new Promise((r) => setTimeout(r, 200));
      c.close();
    })();
    try {
      await within(
        assert.rejects(
          connectTls(clientOptions(fx, (listener.addr as Deno.NetAddr).port)),
          matches({
            cls: TlsPeerMisbehavedError,
            message: /record of unknown type 0x0048: it does not look like a TLS server/,
          }),
        ),
        10_000,
        "http",
      );
    } finally {
      await served;
      listener.close();
    }
  });
});

Deno.test("TLS client refuses name constraints over the comparison budget, quickly", async () => {
  await withFixture(async (fx, dir) => {
    // 1500 permitted subtrees above 1500 names: 2.25 million comparisons, far over the budget.
    // Both certificates together stay under the 64 KiB a Certificate message may have.
    const n = 1500;
    const subtrees = Array.from(
      { length: n },
      (_, i) => der.encodeTlv(0x30, der.encodeTlv(0x82, new TextEncoder().encode(`z${i}.example`))),
    );
    const nc = der.encodeTlv(0x30, der.encodeTlv(0xa0, ...subtrees));
    const int = await fx.pki.intermediate("Many Subtrees", {
      extensions: [new x509.Extension("2.5.29.30", true, nc)],
    });
    const leaf = await fx.pki.issue({
      name: "many-names",
      cn: "many-names",
      issuer: int,
      dns: Array.from({ length: n }, (_, i) => `h.z${i}.example`),
      usage: "server",
    });
    const intPath = `${dir}/many-subtrees.pem`;
    await Deno.writeTextFile(intPath, int.cert.toString("pem") + "\n");
    const creds = { ...fx.creds, certPath: leaf.certPath, keyPath: leaf.keyPath! };
    await withServer(creds, ["-tls1_3", "-cert_chain", intPath], async (port, s) => {
      const started = performance.now();
      await within(
        assert.rejects(
          connectTls(clientOptions(fx, port, null, { serverName: "h.z0.example" })),
          matches({
            cls: TlsCertificateError,
            alert: "bad_certificate",
            message:
              /^Server certificate rejected: Certificate "CN=Many Subtrees" has nameConstraints that would take 2250000 name comparisons to check, more than the 65536 left of the 65536 allowed for a chain$/,
          }),
        ),
        20_000,
        "budget",
      );
      console.log(
        `handshake refused ${n} subtrees x ${n} names in ${
          (performance.now() - started).toFixed(0)
        } ms (TCP, key exchange and s_server included)`,
      );
      await s.waitForOutput(/bad certificate/i, 5_000);
    });
  });
});

Deno.test("TLS client accepts the self-signed CA certificate it pins, as `openssl req -x509` makes it", async () => {
  await withFixture(async (fx, dir) => {
    // The most common private broker set-up: one self-signed certificate (CA:TRUE by default)
    // that is also the client's trust store.
    const [key, cert] = [`${dir}/pinned.key`, `${dir}/pinned.pem`];
    const subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"];
    const p = await new Deno.Command("openssl", {
      args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        .concat(["-keyout", key, "-out", cert, "-days", "2", ...subject]),
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(p.success, new TextDecoder().decode(p.stderr));
    const trustStore = await TrustStore.load(cert);
    await withServer({ certPath: cert, keyPath: key, caPath: cert }, ["-tls1_3"], async (port) => {
      const options = clientOptions(fx, port, null, { serverName: "localhost", trustStore });
      const conn = await within(connectTls(options), 20_000, "pinned");
      assert.equal(conn.info.serverSubject, "CN=localhost");
      await conn.close();
    });
  });
});
