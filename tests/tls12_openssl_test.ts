/**
 * Interop: our client against `openssl s_server -tls1_2` (a server without TLS 1.3): each ECDHE
 * AEAD suite, each group, client authentication with SoftHSM token keys of each type (RSA
 * with PSS and with PKCS#1 v1.5), an optional client certificate, and the master secret, which
 * must be the one OpenSSL logged (extended master secret, RFC 7627).
 */
import assert from "node:assert/strict";
import { openSigningKey, Secret, type SigningKey } from "../src/keys/mod.ts";
import { connectTls } from "../src/tls/mod.ts";
import { resolveConfig, startTlsWithConfig } from "../src/tls/client.ts";
import { decodePem } from "../src/x509/mod.ts";
import type { KeyKind } from "./helpers/pki.ts";
import type { TestProcess } from "./helpers/process.ts";
import { SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";
import type { ServerCredentials } from "./helpers/tls_servers.ts";
import {
  clientOptions,
  exchange,
  type TlsFixture,
  within,
  withOpensslServer,
  withTlsFixture,
} from "./tls_helpers.ts";

const te = new TextEncoder();

const withFixture = (fn: (fx: TlsFixture, dir: string) => Promise<void>) =>
  withTlsFixture("tls12-openssl-", ["p256"], fn);
const withServer = (
  creds: ServerCredentials,
  extra: string[],
  fn: (port: number, server: TestProcess) => Promise<void>,
) => withOpensslServer(creds, ["-tls1_2", ...extra], fn);

Deno.test("TLS 1.2: mutual handshake with openssl s_server -tls1_2 for each ECDHE AEAD suite", async () => {
  await withFixture(async (fx) => {
    const rsaServer = await fx.pki.server("rsa-server", { kind: "rsa2048" });
    const rsaCreds = { ...fx.creds, certPath: rsaServer.certPath, keyPath: rsaServer.keyPath! };
    const suites = [
      ["ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", fx.creds],
      ["ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", fx.creds],
      ["ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", fx.creds],
      ["ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", rsaCreds],
      ["ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", rsaCreds],
      ["ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", rsaCreds],
    ] as const;
    for (const [openssl, iana, creds] of suites) {
      await withServer(creds, ["-Verify", "2", "-cipher", openssl], async (port, s) => {
        const conn = await within(connectTls(clientOptions(fx, port)), 20_000, openssl);
        assert.equal(conn.info.version, "TLSv1.2");
        assert.equal(conn.info.suite, iana);
        assert.equal(conn.info.extendedMasterSecret, true);
        assert.equal(conn.info.group, "x25519");
        assert.equal(conn.info.clientSignatureScheme, "ecdsa_secp256r1_sha256");
        assert.equal(await conn.awaitAcceptance(1_000), "accepted");
        await s.waitForOutput(new RegExp(`CIPHER is ${openssl}`));
        await exchange(conn, s, openssl);
        await conn.close();
        await s.waitForOutput(/DONE|shutting down/i);
      });
    }
  });
});

Deno.test("TLS 1.2: our extended master secret is the one openssl s_server logged", async () => {
  await withFixture(async (fx, dir) => {
    const keyLogFile = `${dir}/keys.log`;
    for (const suite of ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"]) {
      await Deno.writeTextFile(keyLogFile, "");
      await withServer(
        fx.creds,
        ["-Verify", "2", "-cipher", suite, "-keylogfile", keyLogFile],
        async (port, s) => {
          const ours: string[] = [];
          const options = clientOptions(fx, port);
          const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
          const config = { ...resolveConfig(options), keyLog: (l: string) => ours.push(l) };
          const conn = await within(startTlsWithConfig(tcp, config, options), 20_000, suite);
          await exchange(conn, s, suite);
          await conn.close();
          const logged = (await Deno.readTextFile(keyLogFile)).split("\n")
            .filter((l) => l.startsWith("CLIENT_RANDOM"));
          assert.equal(ours.length, 1);
          assert.deepEqual(logged, ours, suite);
        },
      );
    }
  });
});

Deno.test("TLS 1.2: ECDHE on each group openssl s_server insists on", async () => {
  // OpenSSL holds a TLS 1.2 client's ECDSA certificate to the server's group list too (RFC
  // 8422 5.1: supported_groups also names the certificate curves; "wrong curve" otherwise), so
  // P-256, the client key's curve, stays on each list; -serverpref makes the first one win.
  await withFixture(async (fx) => {
    for (
      const [groups, name] of [
        ["X25519:P-256", "x25519"],
        ["P-256", "secp256r1"],
        ["P-384:P-256", "secp384r1"],
      ]
    ) {
      await withServer(
        fx.creds,
        ["-Verify", "2", "-serverpref", "-groups", groups],
        async (port, s) => {
          const conn = await within(connectTls(clientOptions(fx, port)), 20_000, groups);
          assert.equal(conn.info.group, name);
          assert.equal(conn.info.hrr, false);
          await exchange(conn, s, name);
          await conn.close();
        },
      );
    }
  });
});

/** SoftHSM token keys, in this process, each with a certificate from the fixture's CA. */
async function tokenKeys(fx: TlsFixture, dir: string) {
  const hsm = await SoftHsm.create(`${dir}/hsm`);
  Deno.env.set("SOFTHSM2_CONF", hsm.conf);
  const token = await hsm.initToken("edge");
  const out: {
    kind: KeyKind;
    chain: Uint8Array[];
    key: SigningKey & { close(): Promise<void> };
  }[] = [];
  for (const kind of ["p256", "p384", "rsa2048"] as const) {
    const imported = await hsm.importNewKey(token, kind, { label: `device-${kind}` });
    const cert = await fx.pki.device(`token-${kind}`, `token-${kind}`, {
      publicKeySpki: imported.spki,
    });
    const key = await openSigningKey({
      kind: "pkcs11",
      modulePath: SOFTHSM_MODULE,
      pin: new Secret("1234"),
      certificateSpki: imported.spki,
    });
    out.push({ kind, chain: decodePem(cert.chainPem).map((b) => b.der), key });
  }
  return out;
}

Deno.test("TLS 1.2: SoftHSM token keys sign the handshake: P-256, P-384, RSA-2048 with PSS and with PKCS#1 v1.5", async () => {
  await withFixture(async (fx, dir) => {
    const keys = await tokenKeys(fx, dir);
    try {
      const cases = [
        ["p256", [], "ecdsa_secp256r1_sha256"],
        ["p384", [], "ecdsa_secp384r1_sha384"],
        ["rsa2048", [], "rsa_pss_rsae_sha256"],
        // A server that accepts only RSA PKCS#1 v1.5 from clients, as older ones do.
        ["rsa2048", ["-client_sigalgs", "RSA+SHA256:RSA+SHA384"], "rsa_pkcs1_sha256"],
      ] as const;
      for (const [kind, extra, scheme] of cases) {
        const { chain, key } = keys.find((k) => k.kind === kind)!;
        await withServer(fx.creds, ["-Verify", "2", ...extra], async (port, s) => {
          const options = {
            ...clientOptions(fx, port),
            clientAuth: { certificateChain: chain, key },
          };
          const conn = await within(connectTls(options), 20_000, scheme);
          assert.equal(conn.info.version, "TLSv1.2");
          assert.equal(conn.info.clientSignatureScheme, scheme);
          assert.ok(conn.info.timings.signatureMs! > 0);
          await exchange(conn, s, scheme);
          await conn.close();
          assert.match(s.output, new RegExp(`subject=CN = token-${kind}`));
        });
      }
    } finally {
      for (const k of keys) await k.key.close();
    }
  });
});

Deno.test("TLS 1.2: a server that asks for a certificate optionally gets an empty one from a client without a key", async () => {
  await withFixture(async (fx) => {
    await withServer(fx.creds, ["-verify", "2"], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port, null)), 20_000, "optional");
      assert.equal(conn.info.clientCertificateRequested, true);
      assert.equal(conn.info.clientSignatureScheme, undefined);
      await exchange(conn, s, "anonymous");
      await conn.close();
    });
    await withServer(fx.creds, [], async (port, s) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "no request");
      assert.equal(conn.info.clientCertificateRequested, false);
      await exchange(conn, s, "unasked");
      await conn.close();
    });
  });
});

Deno.test("TLS 1.2: a connection to openssl s_server moves 1 MiB each way (-rev) and reads its close_notify", async () => {
  await withFixture(async (fx) => {
    await withServer(fx.creds, ["-Verify", "2", "-rev"], async (port) => {
      const conn = await within(connectTls(clientOptions(fx, port)), 20_000, "connect");
      const line = (i: number) => `${i}`.padStart(8, "0").padEnd(999, "y") + "\n";
      const reader = (async () => {
        let got = "";
        while (got.length < 1024 * 1000) {
          const c = await within(conn.read(), 10_000, "echo");
          if (!c) break;
          got += new TextDecoder().decode(c);
        }
        return got;
      })();
      for (let i = 0; i < 1024; i += 64) {
        await Promise.all(Array.from({ length: 64 }, (_, j) => conn.write(te.encode(line(i + j)))));
      }
      const lines = (await reader).split("\n").filter(Boolean);
      assert.equal(lines.length, 1024);
      for (let i = 0; i < 1024; i++) {
        if (lines[i] !== line(i).slice(0, -1).split("").reverse().join("")) {
          assert.fail(`line ${i} differs`);
        }
      }
      await conn.close();
    });
  });
});
