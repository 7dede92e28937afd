/**
 * The TLS 1.2 path against the in-memory fake TLS 1.2 server: each suite and group, the master
 * secret both sides derived, client authentication with each key type (RSA PKCS#1 v1.5
 * included), declined renegotiation, warning alerts, and what a TLS 1.2 connection cannot do.
 */

import assert from "node:assert/strict";
import { startTlsWithConfig } from "./client.ts";
import { TlsAlertReceivedError, TlsLocalError } from "./errors.ts";
import type { HandshakeConfig } from "./handshake/mod.ts";
import { ContentType } from "./record/mod.ts";
import {
  fakeClientConfig,
  FakeTls12Server,
  type FakeTls12ServerOptions,
  offeredSchemes,
  pipePair,
  testSigningKey,
} from "./testing/mod.ts";

const te = new TextEncoder();
const td = new TextDecoder();

const RSA_KEY = await crypto.subtle.generateKey(
  {
    name: "RSA-PSS",
    hash: "SHA-256",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
  },
  true,
  ["sign", "verify"],
) as CryptoKeyPair;
const RSA_SPKI = new Uint8Array(await crypto.subtle.exportKey("spki", RSA_KEY.publicKey));

export async function connect12(
  opts: FakeTls12ServerOptions = {},
  config: Partial<HandshakeConfig> = {},
) {
  const [c, s] = pipePair();
  const server = new FakeTls12Server(s, { rsaKey: RSA_KEY, ...opts });
  const serverDone = server.handshake();
  serverDone.catch(() => {});
  const keyLog: string[] = [];
  const rsa = [0xc02f, 0xc030, 0xcca8].includes(opts.suite ?? 0);
  const conn = await startTlsWithConfig(
    c,
    fakeClientConfig({
      keyLog: (line) => keyLog.push(line),
      ...(rsa
        ? { verifyChain: () => Promise.resolve({ leafSpki: RSA_SPKI, subject: "CN=rsa" }) }
        : {}),
      ...config,
    }),
    { handshakeTimeoutMs: 5_000 },
  );
  await serverDone;
  return { conn, server, c, s, keyLog };
}

async function pingPong(
  conn: Awaited<ReturnType<typeof connect12>>["conn"],
  server: FakeTls12Server,
) {
  await conn.write(te.encode("ping"));
  assert.equal(td.decode((await server.readAppData())!), "ping");
  await server.sendRecord(ContentType.application_data, te.encode("pong"));
  assert.equal(td.decode((await conn.read())!), "pong");
}

Deno.test("TLS 1.2: client negotiates each ECDHE AEAD suite, with the master secret the server derived", async () => {
  const suites = [
    [0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ecdsa_secp256r1_sha256"],
    [0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ecdsa_secp256r1_sha256"],
    [0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ecdsa_secp256r1_sha256"],
    [0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "rsa_pss_rsae_sha256"],
    [0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "rsa_pss_rsae_sha256"],
    [0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "rsa_pss_rsae_sha256"],
  ] as const;
  for (const [suite, name, scheme] of suites) {
    const { conn, server, keyLog } = await connect12({ suite });
    assert.equal(conn.info.version, "TLSv1.2");
    assert.equal(conn.info.suite, name);
    assert.equal(conn.info.extendedMasterSecret, true);
    assert.equal(conn.info.group, "x25519");
    assert.equal(conn.info.hrr, false);
    assert.equal(conn.info.serverSignatureScheme, scheme);
    assert.deepEqual(keyLog, [server.result.keyLog], name);
    await pingPong(conn, server);
    await conn.close();
    assert.equal(await server.readAlert(), "close_notify");
  }
});

Deno.test("TLS 1.2: client does ECDHE on x25519, secp256r1 and secp384r1, with a fresh key", async () => {
  for (const [group, name] of [[0x001d, "x25519"], [0x0017, "secp256r1"], [0x0018, "secp384r1"]]) {
    const { conn, server } = await connect12({ group: group as number });
    assert.equal(conn.info.group, name);
    await pingPong(conn, server);
    await conn.close();
  }
});

Deno.test("TLS 1.2: one ClientHello offers TLS 1.3 first, TLS 1.2 after, with EMS and renegotiation_info", async () => {
  const { conn, server } = await connect12();
  const ch = server.result.clientHello!;
  const sv = ch.extensions.find((e) => e.type === 0x002b)!;
  assert.deepEqual([...sv.data], [4, 3, 4, 3, 3]);
  assert.deepEqual(ch.cipherSuites.slice(0, 3), [0x1301, 0x1302, 0x1303]);
  assert.ok(ch.cipherSuites.includes(0xc02b));
  // No CBC, RSA key exchange or SHA-1: 0x002f, 0x009c, 0xc013; rsa_pkcs1_sha1 0x0201.
  for (const unsafe of [0x002f, 0x009c, 0xc013, 0x00ff]) {
    assert.ok(!ch.cipherSuites.includes(unsafe));
  }
  assert.ok(!offeredSchemes(ch).includes(0x0201));
  assert.ok(offeredSchemes(ch).includes(0x0401));
  assert.ok(ch.extensions.some((e) => e.type === 0x0017 && e.data.length === 0));
  assert.ok(ch.extensions.some((e) => e.type === 0xff01 && e.data.length === 1));
  await conn.close();
});

Deno.test("TLS 1.2: client signs the handshake messages with each key type, RSA PKCS#1 v1.5 included", async () => {
  const cases = [
    ["p256", 0x0403, "ecdsa_secp256r1_sha256"],
    ["p384", 0x0503, "ecdsa_secp384r1_sha384"],
    ["rsa2048", 0x0804, "rsa_pss_rsae_sha256"],
    ["rsa2048-pkcs1", 0x0401, "rsa_pkcs1_sha256"],
    ["ed25519", 0x0807, "ed25519"],
  ] as const;
  for (const [kind, scheme, name] of cases) {
    const signed: Uint8Array[] = [];
    const key = await testSigningKey(kind, { onSign: (m) => signed.push(m.slice()) });
    const { conn, server } = await connect12(
      { certificateRequest: [0x0403, 0x0503, 0x0804, 0x0401, 0x0807] },
      { clientAuth: { certificateChain: [key.publicKeySpki], key } },
    );
    assert.equal(conn.info.clientCertificateRequested, true);
    assert.equal(server.result.clientScheme, scheme, kind);
    assert.equal(conn.info.clientSignatureScheme, name);
    assert.deepEqual(server.result.clientCertificates, [key.publicKeySpki]);
    // RFC 5246 7.4.8: the messages themselves, ClientHello first (type 1), CKE last (16).
    assert.equal(signed.length, 1);
    assert.equal(signed[0][0], 1);
    assert.ok(conn.info.timings.signatureMs! >= 0);
    await pingPong(conn, server);
    await conn.close();
  }
});

Deno.test("TLS 1.2: a key without the schemes the server accepts sends an empty Certificate and says why", async () => {
  // This test key signs RSA-PSS only; the server accepts RSA PKCS#1 v1.5 only (RFC 5246 7.4.6).
  const pss = await testSigningKey("rsa2048");
  const { conn, server } = await connect12({ certificateRequest: [0x0401] }, {
    clientAuth: { certificateChain: [pss.publicKeySpki], key: pss },
  });
  assert.deepEqual(server.result.clientCertificates, []);
  assert.equal(conn.info.clientSignatureScheme, undefined);
  assert.match(
    conn.info.clientCertificateWithheld!,
    /server offers rsa_pkcs1_sha256; key supports rsa_pss_rsae_sha256$/,
  );
  await pingPong(conn, server);
  await conn.close();
});

Deno.test("TLS 1.2: client sends an empty Certificate when asked but configured without a key", async () => {
  const { conn, server } = await connect12({ certificateRequest: [0x0403] });
  assert.deepEqual(server.result.clientCertificates, []);
  assert.equal(conn.info.clientSignatureScheme, undefined);
  await pingPong(conn, server);
  await conn.close();
});

Deno.test("TLS 1.2: a HelloRequest is declined with a no_renegotiation warning; data keeps flowing", async () => {
  const { conn, server } = await connect12();
  await server.sendHelloRequest();
  await server.sendHelloRequest(); // declined once, then ignored
  await server.sendRecord(ContentType.application_data, te.encode("still here"));
  assert.equal(td.decode((await conn.read())!), "still here");
  const warning = await server.readRecord();
  assert.deepEqual([warning!.type, ...warning!.content], [ContentType.alert, 1, 100]);
  await conn.write(te.encode("and me"));
  assert.equal(td.decode((await server.readAppData())!), "and me");
  // OpenSSL answers the refusal with a fatal handshake_failure: the error says why.
  await server.sendRecord(ContentType.alert, new Uint8Array([2, 40]));
  await assert.rejects(conn.read(), (e: unknown) => {
    assert.ok(e instanceof TlsAlertReceivedError);
    assert.equal(
      e.message,
      'Server sent alert "handshake_failure" after we declined its request to renegotiate ' +
        "(hsm-bridge never renegotiates TLS 1.2)",
    );
    return true;
  });
});

Deno.test("TLS 1.2: warning alerts are ignored, close_notify ends the stream, KeyUpdate is refused", async () => {
  const { conn, server } = await connect12();
  await server.sendRecord(ContentType.alert, new Uint8Array([1, 112])); // unrecognized_name
  await server.sendRecord(ContentType.application_data, te.encode("data"));
  assert.equal(td.decode((await conn.read())!), "data");
  await assert.rejects(
    conn.updateKeys(),
    (e: unknown) => e instanceof TlsLocalError && /TLS 1\.2 has no KeyUpdate/.test(e.message),
  );
  assert.equal(await conn.awaitAcceptance(10), "accepted");
  await pingPong(conn, server);
  await server.sendRecord(ContentType.alert, new Uint8Array([1, 0]));
  assert.equal(await conn.read(), null);
  await conn.close();
});

Deno.test("TLS 1.2: a handshake message after the handshake other than HelloRequest is unexpected_message", async () => {
  const { conn, server } = await connect12();
  await server.sendRecord(ContentType.handshake, new Uint8Array([4, 0, 0, 0]));
  await assert.rejects(conn.read(), /Server sent new_session_ticket after the handshake/);
  assert.equal(await server.readAlert(), "unexpected_message");
});

Deno.test("TLS 1.2: HelloRequests during the handshake are ignored and left out of the transcript", async () => {
  const hello = new Uint8Array([0, 0, 0, 0]);
  const { conn, server } = await connect12({
    tamper: { flight: (m) => [m[0], hello, m[1], hello, ...m.slice(2)] },
  });
  await pingPong(conn, server);
  await conn.close();
});
