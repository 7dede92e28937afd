/**
 * `hsm-bridge check tls` against real TLS 1.3 and TLS 1.2 servers (OpenSSL, GnuTLS, mosquitto)
 * with the device key on a SoftHSM token, and against servers it must refuse.
 */
import assert from "node:assert/strict";
import { cliArgv, runCli } from "./helpers/cli.ts";
import { Mosquitto } from "./helpers/mosquitto.ts";
import { startP11ServerProcess } from "./helpers/p11_server.ts";
import { type KeyKind, TestPki } from "./helpers/pki.ts";
import { tempDir } from "./helpers/process.ts";
import { SoftHsm } from "./helpers/softhsm.ts";
import { SoftTpm, TPM2_PKCS11_MODULE } from "./helpers/tpm.ts";
import { runAgainstGnutls, startOpensslServer } from "./helpers/tls_servers.ts";

const TOKEN_KINDS: KeyKind[] = ["p256", "p384", "rsa2048", "ed25519"];

/** A device with one SoftHSM key and certificate per key kind, and a tedge.toml for each. */
async function device(dir: string) {
  const pki = await TestPki.create(`${dir}/pki`);
  const server = await pki.server();
  const hsm = await SoftHsm.create(`${dir}/hsm`);
  const token = await hsm.initToken("edge", { pin: "246810" });
  const configs = new Map<KeyKind, string>();
  for (const kind of TOKEN_KINDS) {
    const key = await hsm.importNewKey(token, kind, { label: `device-${kind}` });
    const cert = await pki.device(`device-${kind}`, `edge-${kind}`, { publicKeySpki: key.spki });
    const path = `${dir}/tedge-${kind}.toml`;
    await Deno.writeTextFile(
      path,
      `[device]\ncert_path = "${cert.chainPath}"\nkey_uri = "${key.uri}"\nkey_pin = "246810"\n\n` +
        `[device.cryptoki]\nmode = "module"\nmodule_path = "${hsm.module}"\n\n` +
        `[c8y]\nurl = "localhost"\nroot_cert_path = "${pki.caPath}"\n`,
    );
    configs.set(kind, path);
  }
  const creds = { certPath: server.certPath, keyPath: server.keyPath!, caPath: pki.caPath };
  return { pki, hsm, server, creds, configs };
}

function assertCompleted(
  r: { code: number; stdout: string; stderr: string },
  kind: KeyKind,
  opts: { token?: string; version?: "TLSv1.3" | "TLSv1.2"; scheme?: string } = {},
) {
  const { token = "edge", version = "TLSv1.3" } = opts;
  const scheme = opts.scheme ?? {
    p256: "ecdsa_secp256r1_sha256",
    p384: "ecdsa_secp384r1_sha384",
    rsa2048: "rsa_pss_rsae_sha256",
    ed25519: "ed25519",
    rsa3072: "rsa_pss_rsae_sha256",
  }[kind];
  assert.equal(r.code, 0, `${kind}: ${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout, /TLS handshake with .* completed/);
  assert.match(
    r.stdout,
    version === "TLSv1.3"
      ? /protocol {7}TLSv1\.3\n/
      : /protocol {7}TLSv1\.2 with extended master secret \(RFC 7627\), no renegotiation\n/,
  );
  assert.match(r.stdout, /after {10}the server accepted the connection\n/);
  assert.match(
    r.stdout,
    new RegExp(
      `client auth {4}requested; signed with ${scheme} by PKCS#11 key "pkcs11:token=${token};`,
    ),
  );
}

Deno.test("check tls completes against openssl s_server with a token key of every type", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  const server = await startOpensslServer(d.creds);
  try {
    for (const kind of TOKEN_KINDS) {
      const r = await runCli(
        ["check", "tls", `127.0.0.1:${server.port}`, "--config", d.configs.get(kind)!],
        { env: d.hsm.env },
      );
      assertCompleted(r, kind);
    }
    const json = await runCli(
      ["check", "tls", `127.0.0.1:${server.port}`, "--json", "--config", d.configs.get("p256")!],
      { env: d.hsm.env },
    );
    const info = JSON.parse(json.stdout);
    assert.equal(info.version, "TLSv1.3");
    assert.equal(info.clientSignatureScheme, "ecdsa_secp256r1_sha256");
    assert.equal(typeof info.timings.signatureMs, "number");
    assert.ok(info.serverChainLength >= 1);
  } finally {
    await server.process.stop();
  }
});

Deno.test("check tls completes against gnutls-serv, TLS 1.3 and restricted to TLS 1.2, with a token key of every type", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  for (
    const [version, priority] of [
      ["TLSv1.3", undefined],
      ["TLSv1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.2"],
    ] as const
  ) {
    for (const kind of TOKEN_KINDS) {
      const r = await runAgainstGnutls(
        d.creds,
        cliArgv(["check", "tls", "127.0.0.1:8443", "--config", d.configs.get(kind)!]),
        { env: { ...d.hsm.env, NO_COLOR: "1" }, priority },
      );
      assertCompleted(r, kind, { version });
    }
  }
});

Deno.test("check tls completes a TLS 1.2 handshake with openssl s_server -tls1_2 and a token key of every type", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  const server = await startOpensslServer(d.creds, ["-tls1_2", "-Verify", "2"]);
  const pkcs1 = await startOpensslServer(d.creds, [
    "-tls1_2",
    "-Verify",
    "2",
    "-client_sigalgs",
    "RSA+SHA256",
  ]);
  try {
    for (const kind of TOKEN_KINDS) {
      const r = await runCli(
        ["check", "tls", `127.0.0.1:${server.port}`, "--config", d.configs.get(kind)!],
        { env: d.hsm.env },
      );
      assertCompleted(r, kind, { version: "TLSv1.2" });
      assert.match(r.stdout, /cipher suite {3}TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n/);
    }
    // An RSA token key signs RSA PKCS#1 v1.5 for a server that accepts nothing else.
    const r = await runCli(
      ["check", "tls", `127.0.0.1:${pkcs1.port}`, "--config", d.configs.get("rsa2048")!],
      { env: d.hsm.env },
    );
    assertCompleted(r, "rsa2048", { version: "TLSv1.2", scheme: "rsa_pkcs1_sha256" });
    const json = await runCli(
      ["check", "tls", `127.0.0.1:${server.port}`, "--json", "--config", d.configs.get("p384")!],
      { env: d.hsm.env },
    );
    const info = JSON.parse(json.stdout);
    assert.equal(info.version, "TLSv1.2");
    assert.equal(info.extendedMasterSecret, true);
    assert.equal(info.clientSignatureScheme, "ecdsa_secp384r1_sha384");
  } finally {
    await server.process.stop();
    await pkcs1.process.stop();
  }
});

Deno.test("check tls completes against mosquitto (TLS 1.3, client certificate required)", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  await using broker = await Mosquitto.start({
    dir: dir.path,
    tls: { caPath: d.pki.caPath, certPath: d.server.certPath, keyPath: d.server.keyPath! },
  });
  for (const kind of TOKEN_KINDS) {
    // The default target is c8y.mqtt (here c8y.url "localhost" with the broker's port).
    const r = await runCli(["check", "tls", "--config", d.configs.get(kind)!], {
      env: { ...d.hsm.env, TEDGE_C8Y_MQTT: `localhost:${broker.port}` },
    });
    assertCompleted(r, kind);
    assert.match(r.stdout, /server name {4}localhost\n/);
  }
});

Deno.test("check tls completes against mosquitto in socket mode, p11-server holding the token", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  await using broker = await Mosquitto.start({
    dir: dir.path,
    tls: { caPath: d.pki.caPath, certPath: d.server.certPath, keyPath: d.server.keyPath! },
  });
  const socketPath = `${dir.path}/p11/tedge-p11-server.sock`;
  const server = await startP11ServerProcess(d.hsm, socketPath, { pin: "246810" });
  try {
    for (const kind of TOKEN_KINDS) {
      // The same device, switched to socket mode: no module path, no SoftHSM configuration,
      // no ffi permission in this process (pkcs11js cannot load).
      const r = await runCli(["check", "tls", "--config", d.configs.get(kind)!], {
        env: {
          TEDGE_C8Y_MQTT: `localhost:${broker.port}`,
          TEDGE_DEVICE_CRYPTOKI_MODE: "socket",
          TEDGE_DEVICE_CRYPTOKI_MODULE_PATH: "",
          TEDGE_DEVICE_CRYPTOKI_SOCKET_PATH: socketPath,
        },
        denoFlags: ["--deny-ffi"],
      });
      assertCompleted(r, kind);
      assert.match(
        r.stdout,
        /by PKCS#11 key "pkcs11:token=edge;object=device-\w+" through tedge-p11-server/,
      );
    }
    assert.match(server.output, /request=SignRequestWithSigScheme/);
  } finally {
    await server.stop();
  }
});

Deno.test("check tls completes with TPM keys made by hsm create-key, against openssl s_server and mosquitto", async () => {
  await using dir = await tempDir();
  const pki = await TestPki.create(`${dir.path}/pki`);
  const server = await pki.server();
  await using tpm = await SoftTpm.start(`${dir.path}/tpm`);
  const token = await tpm.initToken("tpm-edge", { pin: "123456" });
  const creds = { certPath: server.certPath, keyPath: server.keyPath!, caPath: pki.caPath };
  const configs = new Map<KeyKind, string>();
  const created: [KeyKind, string[]][] = [
    ["p256", ["--type", "ecdsa", "--curve", "p256"]],
    ["p384", ["--type", "ecdsa", "--curve", "p384"]],
    ["rsa2048", ["--type", "rsa", "--bits", "2048"]],
  ];
  for (const [kind, args] of created) {
    const key = await tpm.createKey(token, args, `device-${kind}`);
    const cert = await pki.device(`device-${kind}`, `edge-${kind}`, { publicKeySpki: key.spki });
    const path = `${dir.path}/tedge-${kind}.toml`;
    await Deno.writeTextFile(
      path,
      `[device]\ncert_path = "${cert.chainPath}"\nkey_uri = "${key.uri}"\n\n` +
        `[device.cryptoki]\nmode = "module"\nmodule_path = "${TPM2_PKCS11_MODULE}"\n` +
        `pin = "123456"\n\n[c8y]\nurl = "localhost"\nroot_cert_path = "${pki.caPath}"\n`,
    );
    configs.set(kind, path);
  }
  const openssl = await startOpensslServer(creds);
  try {
    for (const [kind, path] of configs) {
      const r = await runCli(["check", "tls", `127.0.0.1:${openssl.port}`, "--config", path], {
        env: tpm.env,
      });
      assertCompleted(r, kind, { token: "tpm-edge" });
    }
  } finally {
    await openssl.process.stop();
  }
  await using broker = await Mosquitto.start({ dir: dir.path, tls: creds });
  for (const [kind, path] of configs) {
    const r = await runCli(["check", "tls", "--config", path], {
      env: { ...tpm.env, TEDGE_C8Y_MQTT: `localhost:${broker.port}` },
    });
    assertCompleted(r, kind, { token: "tpm-edge" });
  }
});

Deno.test("check tls refuses bad servers with the reason, exit 1", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  const config = d.configs.get("p256")!;
  const other = await TestPki.create(`${dir.path}/other-pki`, { cn: "Other CA" });
  const foreign = await other.server("foreign");
  const expired = await d.pki.server("expired", {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const noEms = `${dir.path}/no-ems.cnf`;
  await Deno.writeTextFile(
    noEms,
    "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n" +
      "[tls]\nOptions = -ExtendedMasterSecret\n",
  );
  const cases: {
    name: string;
    creds?: typeof d.creds;
    extra: string[];
    args?: string[];
    env?: Record<string, string>;
    serverEnv?: Record<string, string>;
    error: RegExp;
  }[] = [
    {
      name: "unknown CA",
      creds: { ...d.creds, certPath: foreign.certPath, keyPath: foreign.keyPath! },
      extra: ["-tls1_3"],
      error: /is not trusted/,
    },
    {
      name: "wrong host name",
      extra: ["-tls1_3"],
      args: ["--servername", "broker.example.com"],
      error: /is not valid for "broker\.example\.com"/,
    },
    {
      name: "expired certificate",
      creds: { ...d.creds, certPath: expired.certPath, keyPath: expired.keyPath! },
      extra: ["-tls1_3"],
      error: /expired/,
    },
    {
      // A TLS 1.2 server is accepted unless the device is set to TLS 1.3 only.
      name: "TLS 1.2 only, with c8y.bridge.tls.min_version 1.3",
      extra: ["-tls1_2"],
      env: { TEDGE_C8Y_BRIDGE_TLS_MIN_VERSION: "1.3" },
      error: /does not speak TLS 1\.3.*this connection allows TLS 1\.3 only/,
    },
    {
      name: "TLS 1.2 without extended master secret",
      extra: ["-tls1_2"],
      serverEnv: { OPENSSL_CONF: noEms },
      error: /does not support the extended master secret \(RFC 7627\)/,
    },
    {
      name: "TLS 1.2 with CBC suites only",
      extra: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"],
      error: /Server sent alert "handshake_failure" while waiting for ServerHello/,
    },
    {
      // The server judges our certificate after our Finished (RFC 8446 4.4.2.4): check tls
      // must wait for its verdict rather than report success.
      name: "our certificate not trusted by the server",
      creds: { ...d.creds, caPath: other.caPath },
      extra: ["-tls1_3", "-Verify", "2", "-verify_return_error"],
      error: /Server sent alert "(unknown_ca|bad_certificate|certificate_unknown|decrypt_error)"/,
    },
    { name: "no common group", extra: ["-tls1_3", "-groups", "ffdhe2048"], error: /group/ },
    {
      // The key cannot make what the server accepts: an empty Certificate (RFC 8446 4.4.2),
      // which a server that requires one refuses; the reason names both scheme lists.
      name: "no scheme our key can make, certificate required",
      extra: ["-tls1_3", "-Verify", "2", "-client_sigalgs", "RSA-PSS+SHA256"],
      error:
        /"certificate_required" after the handshake: .*; we sent no client certificate because the server accepts no signature scheme that PKCS#11 key "pkcs11:.*" can produce: server offers rsa_pss_rsae_sha256; key supports ecdsa_secp256r1_sha256\n/,
    },
  ];
  for (const c of cases) {
    const server = await startOpensslServer(c.creds ?? d.creds, c.extra, "127.0.0.1", c.serverEnv);
    try {
      const r = await runCli(
        ["check", "tls", `127.0.0.1:${server.port}`, ...(c.args ?? []), "--config", config],
        { env: { ...d.hsm.env, ...c.env } },
      );
      assert.equal(r.code, 1, `${c.name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^hsm-bridge: TLS handshake with 127\.0\.0\.1:\d+ failed: /, r.stderr);
      assert.match(r.stderr, c.error, c.name);
      assert.equal(r.stderr.trim().split("\n").length, 1, `${c.name}: one line`);
    } finally {
      await server.process.stop();
    }
  }
});

Deno.test("check tls completes without a client certificate when the key cannot make what an optional-auth server accepts", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  const server = await startOpensslServer(d.creds, [
    "-tls1_3",
    "-verify",
    "2",
    "-client_sigalgs",
    "RSA-PSS+SHA256",
  ]);
  try {
    const r = await runCli(
      ["check", "tls", `127.0.0.1:${server.port}`, "--config", d.configs.get("p256")!],
      { env: d.hsm.env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /after {10}the server accepted the connection\n/);
    assert.match(
      r.stdout,
      /client auth {4}requested; none sent: the server accepts no signature scheme that PKCS#11 key "pkcs11:.*" can produce: server offers rsa_pss_rsae_sha256; key supports ecdsa_secp256r1_sha256\n/,
    );
  } finally {
    await server.process.stop();
  }
});

Deno.test("check tls exits 78 when the configuration cannot be used", async () => {
  await using dir = await tempDir();
  const d = await device(dir.path);
  const config = d.configs.get("p256")!;
  let r = await runCli(["check", "tls", "--config", config], {
    env: { ...d.hsm.env, TEDGE_C8Y_URL: "" },
  });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /Missing configuration "c8y.mqtt"/);
  r = await runCli(["check", "tls", "127.0.0.1:1", "--config", config], {
    env: { ...d.hsm.env, TEDGE_C8Y_ROOT_CERT_PATH: `${dir.path}/nothing-here` },
  });
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /nothing-here/);
  r = await runCli(["check", "tls", "nonsense:port:x", "--config", config], { env: d.hsm.env });
  assert.equal(r.code, 2, r.stderr);
});
