/**
 * Interop: our client against `gnutls-serv` restricted to TLS 1.2 (`-VERS-ALL:+VERS-TLS1.2`),
 * a second TLS 1.2 implementation beside OpenSSL: each AEAD, and the refusals
 * GnuTLS can be configured into (no extended master secret, no secure renegotiation). The
 * server runs in its own network namespace with the client (tests/tls_gnutls_client.ts). Each
 * key type over TLS 1.2 is in tls_gnutls_test.ts, beside TLS 1.3.
 */
import assert from "node:assert/strict";
import { tempDir } from "./helpers/process.ts";
import { GNUTLS_TLS12 as TLS12, runGnutlsClient, tlsFixture } from "./tls_helpers.ts";

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
