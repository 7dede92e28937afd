/**
 * Interop: our TLS 1.3 client against `gnutls-serv --require-client-cert`. gnutls-serv binds
 * every address, so it runs in a network namespace of its own (`unshare -n`, loopback up) and
 * the client runs there too (tests/tls_gnutls_client.ts), through tests/helpers/tls_servers.ts.
 */
import assert from "node:assert/strict";
import { tempDir } from "./helpers/process.ts";
import { CLIENT_KINDS, GNUTLS_TLS12, runGnutlsClient, tlsFixture } from "./tls_helpers.ts";

for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
  Deno.test(`TLS client completes a ${version} mutual handshake with gnutls-serv for each client key type`, async () => {
    await using dir = await tempDir("tls-gnutls-");
    const fx = await tlsFixture(dir.path);
    try {
      const schemes = {
        p256: "ecdsa_secp256r1_sha256",
        p384: "ecdsa_secp384r1_sha384",
        rsa2048: "rsa_pss_rsae_sha256",
        ed25519: "ed25519",
      };
      for (const kind of CLIENT_KINDS) {
        const priority = version === "TLSv1.2" ? { priority: GNUTLS_TLS12 } : {};
        const { result, r } = await runGnutlsClient(fx, kind, priority);
        assert.equal(result.ok, true, `${kind}: ${JSON.stringify(result)}\n${r.stderr}`);
        const info = result.info as Record<string, unknown>;
        assert.equal(info.version, version);
        assert.equal(info.clientSignatureScheme, schemes[kind]);
        if (version === "TLSv1.3") assert.equal(info.sni, "localhost");
        else assert.equal(info.extendedMasterSecret, true);
        // gnutls-serv answers the request (HTTP by default) over the encrypted channel.
        assert.match(result.answer as string, /HTTP\/1\.[01] 200/);
      }
    } finally {
      await fx.close();
    }
  });
}

Deno.test("TLS client negotiates each cipher suite with gnutls-serv", async () => {
  await using dir = await tempDir("tls-gnutls-");
  const fx = await tlsFixture(dir.path, ["p256"]);
  try {
    for (
      const [code, name] of [
        [0x1301, "TLS_AES_128_GCM_SHA256"],
        [0x1302, "TLS_AES_256_GCM_SHA384"],
        [0x1303, "TLS_CHACHA20_POLY1305_SHA256"],
      ] as const
    ) {
      const { result, r } = await runGnutlsClient(fx, "p256", { suite: code });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result)}\n${r.stderr}`);
      assert.equal((result.info as Record<string, unknown>).suite, name);
    }
  } finally {
    await fx.close();
  }
});

Deno.test("TLS client retries with the NIST group gnutls-serv insists on (HelloRetryRequest)", async () => {
  await using dir = await tempDir("tls-gnutls-");
  const fx = await tlsFixture(dir.path, ["p256"]);
  try {
    for (const [group, name] of [["SECP256R1", "secp256r1"], ["SECP384R1", "secp384r1"]]) {
      const priority = `NORMAL:-GROUP-ALL:+GROUP-${group}`;
      const { result, r } = await runGnutlsClient(fx, "p256", { priority });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result)}\n${r.stderr}`);
      const info = result.info as Record<string, unknown>;
      assert.equal(info.group, name);
      assert.equal(info.hrr, true);
    }
  } finally {
    await fx.close();
  }
});
