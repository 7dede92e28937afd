/**
 * Interop: our TLS 1.3 client against `openssl s_server -tls1_3 -Verify 2` on loopback.
 *
 * s_server prints what the client sends and sends what is written to its stdin. A stdin line
 * of just `k` or `K` makes it send a KeyUpdate (K: with update_requested); OpenSSL 3.0 drops the
 * rest of that stdin read, so the tests wait for its "SSL_do_handshake" line before writing more.
 */
import assert from "node:assert/strict";
import { connectTls } from "../src/tls/mod.ts";
import type { TestProcess } from "./helpers/process.ts";
import {
  CLIENT_KINDS,
  clientOptions,
  exchange,
  type TlsFixture,
  within,
  withOpensslServer,
  withTlsFixture,
} from "./tls_helpers.ts";
import { startOpensslServer } from "./helpers/tls_servers.ts";

const te = new TextEncoder();

const withFixture = (fn: (fx: TlsFixture) => Promise<void>) =>
  withTlsFixture("tls-openssl-", CLIENT_KINDS, fn);
const withServer = (
  fx: TlsFixture,
  extra: string[],
  fn: (port: number, server: TestProcess) => Promise<void>,
) => withOpensslServer(fx.creds, extra, fn);

Deno.test("TLS client completes a mutual handshake with openssl s_server for each cipher suite", async () => {
  await withFixture(async (fx) => {
    for (
      const suite of [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
      ]
    ) {
      await withServer(fx, ["-tls1_3", "-Verify", "2", "-ciphersuites", suite], async (port, s) => {
        const conn = await within(connectTls(clientOptions(fx, port)), 20_000, suite);
        assert.equal(conn.info.suite, suite);
        assert.equal(conn.info.version, "TLSv1.3");
        assert.equal(conn.info.group, "x25519");
        assert.equal(conn.info.hrr, false);
        assert.equal(conn.info.clientCertificateRequested, true);
        assert.equal(conn.info.clientSignatureScheme, "ecdsa_secp256r1_sha256");
        assert.equal(conn.info.serverSubject, "CN=localhost");
        // s_server sends the leaf and the CA it found in -CAfile.
        assert.ok(conn.info.serverChain.length >= 1);
        assert.equal(conn.info.sni, undefined, "no SNI for an IP address");
        assert.ok(conn.info.timings.tcpMs! >= 0 && conn.info.timings.handshakeMs > 0);
        // s_server sends NewSessionTickets once it has checked our certificate and Finished.
        assert.equal(await conn.awaitAcceptance(5_000), "accepted");
        await exchange(conn, s, suite);
        await conn.close();
        await s.waitForOutput(/DONE|shutting down/i);
      });
    }
  });
});

Deno.test("TLS client signs with P-256, P-384, RSA-2048 (PSS) and Ed25519 file keys for openssl s_server", async () => {
  const expected = {
    p256: "ecdsa_secp256r1_sha256",
    p384: "ecdsa_secp384r1_sha384",
    rsa2048: "rsa_pss_rsae_sha256",
    ed25519: "ed25519",
  };
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3", "-Verify", "2"], async (port, s) => {
      for (const kind of CLIENT_KINDS) {
        const conn = await within(connectTls(clientOptions(fx, port, kind)), 20_000, kind);
        assert.equal(conn.info.clientSignatureScheme, expected[kind]);
        assert.ok(conn.info.timings.signatureMs !== undefined);
        await exchange(conn, s, kind);
        await conn.close();
      }
      assert.match(s.output, /subject=CN = device-ed25519/);
    });
  });
});

Deno.test("TLS client retries with secp256r1 or secp384r1 when openssl s_server asks by HelloRetryRequest", async () => {
  await withFixture(async (fx) => {
    for (const [group, name] of [["P-256", "secp256r1"], ["P-384", "secp384r1"]]) {
      await withServer(fx, ["-tls1_3", "-Verify", "2", "-groups", group], async (port, s) => {
        const conn = await within(connectTls(clientOptions(fx, port)), 20_000, group);
        assert.equal(conn.info.hrr, true);
        assert.equal(conn.info.group, name);
        await exchange(conn, s, group);
        await conn.close();
      });
    }
  });
});

Deno.test("TLS client keeps talking across KeyUpdates from openssl s_server (k and K) and its own", async () => {
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3", "-Verify", "2"], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      await exchange(conn, s, "before");
      let updates = 0;
      for (const cmd of ["k", "K", "K"]) {
        await s.write(`${cmd}\n`);
        updates++;
        await s.waitForOutput(new RegExp(`(SSL_do_handshake -> 1[\\s\\S]*){${updates}}`));
        await exchange(conn, s, `after ${cmd}${updates}`);
      }
      // Our own KeyUpdate, asking the server to update too.
      await conn.updateKeys(true);
      await exchange(conn, s, "after ours");
      await conn.close();
    });
  });
});

Deno.test("TLS client moves 2 MiB each way through openssl s_server's echo (-rev) without loss", async () => {
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3", "-Verify", "2", "-rev"], async (port) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      // -rev answers each line reversed; lines of 1000 characters, 2048 of them.
      const line = (i: number) => `${i}`.padStart(8, "0").padEnd(999, "x") + "\n";
      const expectedTotal = 2048 * 1000;
      const reader = (async () => {
        let got = "";
        while (got.length < expectedTotal) {
          const c = await within(conn.read(), 10_000, "echo");
          if (!c) break;
          got += new TextDecoder().decode(c);
        }
        return got;
      })();
      for (let i = 0; i < 2048; i += 64) {
        // 64 writes in the same tick: coalesced into few records.
        await Promise.all(
          Array.from({ length: 64 }, (_, j) => conn.write(te.encode(line(i + j)))),
        );
      }
      const echoed = await reader;
      const lines = echoed.split("\n").filter(Boolean);
      assert.equal(lines.length, 2048);
      for (let i = 0; i < 2048; i++) {
        const want = line(i).slice(0, -1).split("").reverse().join("");
        if (lines[i] !== want) assert.fail(`line ${i} differs`);
      }
      await conn.close();
    });
  });
});

Deno.test("TLS client works with a server that asks for no certificate, and sends none when it has no key", async () => {
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3"], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "no request");
      assert.equal(conn.info.clientCertificateRequested, false);
      assert.equal(conn.info.clientSignatureScheme, undefined);
      assert.equal(conn.info.timings.signatureMs, undefined);
      await exchange(conn, s, "anonymous");
      await conn.close();
    });
    // -verify (lower case) asks for a certificate but does not require one.
    await withServer(fx, ["-tls1_3", "-verify", "2"], async (port, s) => {
      const conn = await within(
        connectTls(clientOptions(fx, port, null)),
        20_000,
        "optional",
      );
      assert.equal(conn.info.clientCertificateRequested, true);
      assert.equal(conn.info.clientSignatureScheme, undefined);
      await exchange(conn, s, "empty certificate");
      await conn.close();
    });
  });
});

Deno.test("TLS client sends SNI for a DNS name and checks the certificate against it", async () => {
  await withFixture(async (fx) => {
    // -servername needs a second certificate (-cert2/-key2) to switch to; s_server then logs
    // the SNI it received.
    const sni = [
      "-servername",
      "localhost",
      "-cert2",
      fx.creds.certPath,
      "-key2",
      fx.creds.keyPath,
    ];
    await withServer(fx, ["-tls1_3", "-Verify", "2", ...sni], async (port, s) => {
      const options = clientOptions(fx, port, "p256", { serverName: "localhost" });
      const conn = await within(connectTls(options), 20_000, "sni");
      assert.equal(conn.info.sni, "localhost");
      assert.equal(conn.info.serverName, "localhost");
      await exchange(conn, s, "named");
      await conn.close();
      assert.match(s.output, /Hostname in TLS extension: "localhost"/);
    });
  });
});

Deno.test("TLS client connects to an IPv6 literal without SNI, checking the certificate's IP address", async () => {
  await withFixture(async (fx) => {
    const { port, process: s } = await startOpensslServer(
      fx.creds,
      ["-tls1_3", "-Verify", "2", "-6"],
      "::1",
    );
    try {
      const options = { ...clientOptions(fx, port), hostname: "[::1]" };
      const conn = await within(connectTls(options), 20_000, "ipv6");
      assert.equal(conn.info.serverName, "::1");
      assert.equal(conn.info.sni, undefined);
      assert.match(conn.info.remoteAddress!, /^\[::1\]:\d+$/);
      await exchange(conn, s, "v6");
      await conn.close();
    } finally {
      await s.stop();
    }
  });
});

Deno.test("TLS client offers ALPN and reports the protocol the server chose", async () => {
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3", "-Verify", "2", "-alpn", "mqtt"], async (port, s) => {
      const options = clientOptions(fx, port, "p256", { alpn: ["x-unknown", "mqtt"] });
      const conn = await within(connectTls(options), 20_000, "alpn");
      assert.equal(conn.info.alpn, "mqtt");
      await exchange(conn, s, "alpn");
      await conn.close();
    });
  });
});

Deno.test("TLS client reads null after openssl s_server closes with close_notify", async () => {
  await withFixture(async (fx) => {
    await withServer(fx, ["-tls1_3", "-Verify", "2"], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      await exchange(conn, s, "bye");
      await s.write("Q\n"); // s_server: send close_notify and quit
      assert.equal(await within(conn.read(), 10_000, "close_notify"), null);
      await conn.close();
      await conn.closed;
    });
  });
});
