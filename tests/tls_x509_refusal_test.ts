/**
 * Certificate path refusals over a real handshake with OpenSSL's s_server (which serves what it
 * is given): the TLS client refuses a CA certificate as the server's, a server certificate whose
 * names are only in the common name, and name constraints over the comparison budget, each with
 * the certificate named, the reason on one line, and the alert sent to the server.
 */
import assert from "node:assert/strict";
import { connectTls, TlsCertificateError } from "../src/tls/mod.ts";
import { der, TrustStore } from "../src/x509/mod.ts";
import { x509 } from "../src/x509/testing.ts";
import { tempDir, type TestProcess } from "./helpers/process.ts";
import { type ServerCredentials, startOpensslServer } from "./helpers/tls_servers.ts";
import { clientOptions, type TlsFixture, tlsFixture, within } from "./tls_helpers.ts";

async function withFixture(fn: (fx: TlsFixture, dir: string) => Promise<void>): Promise<void> {
  await using dir = await tempDir("tls-x509-");
  const fx = await tlsFixture(dir.path, []);
  try {
    await fn(fx, dir.path);
  } finally {
    await fx.close();
  }
}

/** Serves `creds` (plus an untrusted chain file) with s_server; no client certificate asked. */
async function withServer(
  creds: ServerCredentials,
  extra: string[],
  fn: (port: number, server: TestProcess) => Promise<void>,
): Promise<void> {
  const { port, process } = await startOpensslServer(creds, ["-tls1_3", ...extra]);
  try {
    await fn(port, process);
  } finally {
    await process.stop();
  }
}

async function refusedOverTls(
  fx: TlsFixture,
  port: number,
  server: TestProcess,
  serverName: string,
  message: RegExp,
): Promise<void> {
  await within(
    assert.rejects(
      connectTls(clientOptions(fx, port, null, { serverName })),
      (e: unknown) => {
        assert.ok(e instanceof TlsCertificateError, `${(e as Error)?.name}: ${e}`);
        assert.equal(e.alertToSend, "bad_certificate", e.message);
        assert.match(e.message, message);
        assert.equal(e.message.split("\n").length, 1, "one line");
        return true;
      },
    ),
    20_000,
    serverName,
  );
  // s_server reports the alert we sent: "... alert bad certificate ... SSL alert number 42".
  await server.waitForOutput(/bad certificate|alert number 42/i, 5_000);
}

Deno.test("TLS client refuses a server presenting a CA certificate as its own", async () => {
  await withFixture(async (fx) => {
    const ca = await fx.pki.issue({
      name: "ca-as-leaf",
      cn: "localhost",
      dns: ["localhost"],
      usage: "server",
      ca: true,
    });
    const creds = { ...fx.creds, certPath: ca.certPath, keyPath: ca.keyPath! };
    await withServer(creds, [], async (port, server) => {
      await refusedOverTls(
        fx,
        port,
        server,
        "localhost",
        /^Server certificate rejected: Certificate "CN=localhost" is a CA certificate \(basicConstraints cA is true\), not a server certificate/,
      );
    });
  });
});

Deno.test("TLS client refuses a server certificate that names its host only in the CN", async () => {
  await withFixture(async (fx) => {
    const cnOnly = await fx.pki.issue({ name: "cn-only", cn: "localhost", usage: "server" });
    const creds = { ...fx.creds, certPath: cnOnly.certPath, keyPath: cnOnly.keyPath! };
    await withServer(creds, [], async (port, server) => {
      await refusedOverTls(
        fx,
        port,
        server,
        "localhost",
        /Certificate "CN=localhost" is not valid for any server name: it has no subjectAltName extension, .*; reissue it with the host name in subjectAltName, e\.g\. openssl's -addext "subjectAltName=DNS:localhost"$/,
      );
    });
  });
});

Deno.test("TLS client refuses name constraints over the comparison budget, quickly", async () => {
  await withFixture(async (fx, dir) => {
    // 1500 permitted subtrees above 1500 names: 2.25 million comparisons. Both certificates
    // together stay under the 64 KiB a Certificate message may have.
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
      cn: "localhost",
      issuer: int,
      dns: Array.from({ length: n }, (_, i) => `h.z${i}.example`),
      usage: "server",
    });
    const intPath = `${dir}/many-subtrees.pem`;
    await Deno.writeTextFile(intPath, int.cert.toString("pem") + "\n");
    const creds = { ...fx.creds, certPath: leaf.certPath, keyPath: leaf.keyPath! };
    await withServer(creds, ["-cert_chain", intPath], async (port, server) => {
      const started = performance.now();
      await refusedOverTls(
        fx,
        port,
        server,
        "h.z0.example",
        /^Server certificate rejected: Certificate "CN=Many Subtrees" has nameConstraints that would take 2250000 name comparisons to check, more than the 65536 left of the 65536 allowed for a chain$/,
      );
      console.log(
        `handshake refused ${n} subtrees x ${n} names in ${
          (performance.now() - started).toFixed(0)
        } ms (TCP, key exchange and s_server included)`,
      );
    });
  });
});

Deno.test("TLS client accepts the self-signed CA certificate it pins, as `openssl req -x509` makes it", async () => {
  await withFixture(async (fx, dir) => {
    // The most common private broker set-up: one self-signed certificate (CA:TRUE by default),
    // which is also the client's trust store.
    const key = `${dir}/pinned.key`;
    const cert = `${dir}/pinned.pem`;
    const p = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(p.success, new TextDecoder().decode(p.stderr));
    const trustStore = await TrustStore.load(cert);
    await withServer({ certPath: cert, keyPath: key, caPath: cert }, [], async (port) => {
      const conn = await within(
        connectTls({ ...clientOptions(fx, port, null, { serverName: "localhost" }), trustStore }),
        20_000,
        "pinned",
      );
      assert.equal(conn.info.serverSubject, "CN=localhost");
      await conn.close();
    });
  });
});
