/**
 * Interop: our client against `gnutls-serv` restricted to TLS 1.2 (`-VERS-ALL:+VERS-TLS1.2`),
 * a second TLS 1.2 implementation beside OpenSSL: each key type, each AEAD, and the refusals
 * GnuTLS can be configured into (no extended master secret, no secure renegotiation). The
 * server runs in its own network namespace with the client (tests/tls_gnutls_client.ts).
 */
import assert from "node:assert/strict";
import { tempDir } from "./helpers/process.ts";
import { CLIENT_KINDS, runGnutlsClient, tlsFixture } from "./tls_helpers.ts";

const TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2";

Deno.test("TLS 1.2: mutual handshake with gnutls-serv for each client key type", async () => {
  await using dir = await tempDir("tls12-gnutls-");
  const fx = await tlsFixture(dir.path);
  try {
    const schemes = {
      p256: "ecdsa_secp256r1_sha256",
      p384: "ecdsa_secp384r1_sha384",
      rsa2048: "rsa_pss_rsae_sha256",
      ed25519: "ed25519",
    };
    for (const kind of CLIENT_KINDS) {
      const { result, r } = await runGnutlsClient(fx, kind, { priority: TLS12 });
      assert.equal(result.ok, true, `${kind}: ${JSON.stringify(result)}\n${r.stderr}`);
      const info = result.info as Record<string, unknown>;
      assert.equal(info.version, "TLSv1.2");
      assert.equal(info.extendedMasterSecret, true);
      assert.equal(info.clientSignatureScheme, schemes[kind]);
      assert.match(result.answer as string, /HTTP\/1\.[01] 200/);
    }
  } finally {
    await fx.close();
  }
});

Deno.test("TLS 1.2: each AEAD with gnutls-serv, ECDSA and RSA server certificates", async () => {
  await using dir = await tempDir("tls12-gnutls-");
  const ecdsa = await tlsFixture(`${dir.path}/ec`, ["p256"]);
  const rsa = await tlsFixture(`${dir.path}/rsa`, ["p256"], "rsa2048");
  try {
    for (
      const [fx, cipher, name] of [
        [ecdsa, "AES-128-GCM", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
        [ecdsa, "AES-256-GCM", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
        [ecdsa, "CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
        [rsa, "AES-256-GCM", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
      ] as const
    ) {
      const { result, r } = await runGnutlsClient(fx, "p256", {
        priority: `${TLS12}:-CIPHER-ALL:+${cipher}`,
      });
      assert.equal(result.ok, true, `${name}: ${JSON.stringify(result)}\n${r.stderr}`);
      assert.equal((result.info as Record<string, unknown>).suite, name);
    }
  } finally {
    await ecdsa.close();
    await rsa.close();
  }
});

Deno.test("TLS 1.2: gnutls-serv without extended master secret or secure renegotiation is refused", async () => {
  await using dir = await tempDir("tls12-gnutls-");
  const fx = await tlsFixture(dir.path, ["p256"]);
  try {
    for (
      const [option, message] of [
        ["%NO_SESSION_HASH", /does not support the extended master secret \(RFC 7627\)/],
        ["%DISABLE_SAFE_RENEGOTIATION", /does not support secure renegotiation \(RFC 5746\)/],
      ] as const
    ) {
      const { result, r } = await runGnutlsClient(fx, "p256", { priority: `${TLS12}:${option}` });
      assert.equal(result.ok, false, `${option}: ${JSON.stringify(result)}`);
      assert.equal(result.name, "TlsPeerIncompatibleError", JSON.stringify(result));
      assert.equal(result.alert, "handshake_failure");
      assert.match(result.message as string, message);
      assert.match(r.stderr, /gnutls-serv output/);
    }
  } finally {
    await fx.close();
  }
});
