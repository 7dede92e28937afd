/**
 * TLS 1.2 servers the client must refuse, each with a one-line reason, the RFC's alert sent
 * back, and an error class that says whose fault it was: no extended master secret, no secure
 * renegotiation, a downgrade sentinel, suites and options we never offered, bad signatures.
 */

import assert from "node:assert/strict";
import { startTlsWithConfig } from "./client.ts";
import {
  TlsAlertReceivedError,
  TlsDecodeError,
  type TlsError,
  TlsPeerIncompatibleError,
  TlsPeerMisbehavedError,
} from "./errors.ts";
import type { HandshakeConfig } from "./handshake/mod.ts";
import { encodeHandshake, extension, type ServerHello } from "./messages/mod.ts";
import {
  fakeClientConfig,
  FakeTls12Server,
  type FakeTls12ServerOptions,
  pipePair,
  testSigningKey,
} from "./testing/mod.ts";

type ErrorClass = new (...args: never[]) => TlsError;

async function refused(
  opts: FakeTls12ServerOptions,
  expected: { cls: ErrorClass; alert: string; message: RegExp },
  config: Partial<HandshakeConfig> = {},
): Promise<void> {
  const [c, s] = pipePair();
  const server = new FakeTls12Server(s, opts);
  server.handshake().catch(() => {});
  await assert.rejects(
    startTlsWithConfig(c, fakeClientConfig(config), { handshakeTimeoutMs: 5_000 }),
    (e: unknown) => {
      assert.ok(e instanceof expected.cls, `${(e as Error).name}: ${(e as Error).message}`);
      assert.equal((e as TlsError).alertToSend, expected.alert, (e as Error).message);
      assert.match((e as Error).message, expected.message);
      assert.equal((e as Error).message.split("\n").length, 1, "one line");
      return true;
    },
  );
  assert.equal(await server.readAlert(), expected.alert);
  assert.ok(c.closed, "the client closed its end");
  s.close();
}

const without = (type: number) => (sh: ServerHello) => ({
  ...sh,
  extensions: sh.extensions.filter((e) => e.type !== type),
});
const plus = (type: number, data: number[]) => (sh: ServerHello) => ({
  ...sh,
  extensions: [...sh.extensions, { type, data: new Uint8Array(data) }],
});

Deno.test("TLS 1.2: a server without extended master secret is refused (RFC 7627 5.2)", async () => {
  await refused({ tamper: { serverHello: without(0x0017) } }, {
    cls: TlsPeerIncompatibleError,
    alert: "handshake_failure",
    message:
      /^Server server\.test does not support the extended master secret \(RFC 7627\), which hsm-bridge requires for TLS 1\.2$/,
  });
});

Deno.test("TLS 1.2: a server without secure renegotiation, or with a non-empty one, is refused (RFC 5746)", async () => {
  await refused({ tamper: { serverHello: without(0xff01) } }, {
    cls: TlsPeerIncompatibleError,
    alert: "handshake_failure",
    message: /does not support secure renegotiation \(RFC 5746\)/,
  });
  const renegotiated = (sh: ServerHello) => ({
    ...sh,
    extensions: [
      ...without(0xff01)(sh).extensions,
      extension(0xff01, (w) => w.vector(1, new Uint8Array(12))),
    ],
  });
  await refused({ tamper: { serverHello: renegotiated } }, {
    cls: TlsPeerMisbehavedError,
    alert: "handshake_failure",
    message: /non-empty renegotiation_info in an initial handshake/,
  });
});

Deno.test("TLS 1.2: a TLS 1.3 server's answer with the downgrade sentinel is refused (RFC 8446 4.1.3)", async () => {
  const sentinel = (sh: ServerHello) => {
    const random = sh.random.slice();
    random.set([0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01], 24);
    return { ...sh, random };
  };
  await refused({ tamper: { serverHello: sentinel } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message:
      /^Server server\.test answered with TLS 1\.2 and a downgrade sentinel \(TLS 1\.2\): someone may be tampering with the connection$/,
  });
});

Deno.test("TLS 1.2: CBC, RSA key exchange and TLS 1.3 suites, and compression, are never accepted", async () => {
  // A server may only choose what we offered; we offer none of these.
  for (
    const [suite, message] of [
      [0x002f, /chose cipher suite 0x002f, which we did not offer/], // RSA_WITH_AES_128_CBC_SHA
      [0x009c, /chose cipher suite 0x009c, which we did not offer/], // RSA_WITH_AES_128_GCM_SHA256
      [0xc013, /chose cipher suite 0xc013, which we did not offer/], // ECDHE_RSA_..._CBC_SHA
      [0x1301, /TLS_AES_128_GCM_SHA256, a TLS 1\.3 cipher suite, in a TLS 1\.2 ServerHello/],
    ] as const
  ) {
    await refused({ tamper: { serverHello: (sh) => ({ ...sh, cipherSuite: suite }) } }, {
      cls: TlsPeerMisbehavedError,
      alert: "illegal_parameter",
      message,
    });
  }
  await refused({ tamper: { serverHello: (sh) => ({ ...sh, legacyCompressionMethod: 1 }) } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /compression method 1, which we did not offer/,
  });
});

Deno.test("TLS 1.2: ServerHello extensions we did not send, or that do not belong, are refused", async () => {
  await refused({ tamper: { serverHello: plus(0x0023, []) } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unsupported_extension",
    message: /session_ticket in its ServerHello without our asking/,
  });
  await refused({ tamper: { serverHello: plus(0x0033, [0, 0x1d, 0, 0]) } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /key_share in its ServerHello, where it does not belong/,
  });
  const emsWithData = (sh: ServerHello) => plus(0x0017, [1])(without(0x0017)(sh));
  await refused({ tamper: { serverHello: emsWithData } }, {
    cls: TlsDecodeError,
    alert: "decode_error",
    message: /extended_master_secret/,
  });
});

Deno.test("TLS 1.2: a bad, unoffered or misfit ServerKeyExchange signature is refused before we sign", async () => {
  await refused({ tamper: { corruptSkeSignature: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "decrypt_error",
    message: /ServerKeyExchange signature \(ecdsa_secp256r1_sha256\) does not verify/,
  });
  await refused({ tamper: { skeScheme: 0x0201 } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /ServerKeyExchange with 0x0201, which we did not offer/, // rsa_pkcs1_sha1
  });
  await refused({ tamper: { skeScheme: 0x0804 } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /rsa_pss_rsae_sha256, which does not fit its ECDHE_ECDSA cipher suite/,
  });
  // The token never signed: the server's flight failed first.
  let signed = 0;
  const key = await testSigningKey("p256", { onSign: () => signed++ });
  await refused({ certificateRequest: [0x0403], tamper: { corruptSkeSignature: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "decrypt_error",
    message: /does not verify/,
  }, { clientAuth: { certificateChain: [key.publicKeySpki], key } });
  assert.equal(signed, 0);
});

Deno.test("TLS 1.2: a group we did not offer, a bad Finished and a message out of place are refused", async () => {
  await refused({ group: 0x0018 }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /ECDHE group secp384r1, which we did not offer/,
  }, { groups: [0x001d, 0x0017] });
  await refused({ tamper: { corruptFinished: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "decrypt_error",
    message: /Server's Finished does not match the handshake/,
  });
  // A server that tries to resume a session (Finished right after its ServerHello).
  await refused({ tamper: { flight: (m) => [m[0], encodeHandshake(20, new Uint8Array(12))] } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unexpected_message",
    message: /Server sent finished where Certificate belongs/,
  });
  // A NewSessionTicket we never asked for, in place of change_cipher_spec.
  const ticket = new Uint8Array([22, 3, 3, 0, 10, 4, 0, 0, 6, 0, 0, 0, 0, 0, 0]);
  await refused({ tamper: { finishedFlight: () => ticket } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unexpected_message",
    message: /Server sent new_session_ticket where change_cipher_spec belongs/,
  });
});

Deno.test("TLS 1.2: a key that can make none of the server's schemes sends no certificate; a server that requires one says so, and we say why", async () => {
  const key = await testSigningKey("p256");
  const [c, s] = pipePair();
  const server = new FakeTls12Server(s, {
    certificateRequest: [0x0401, 0x0804],
    requireCertificate: true,
  });
  server.handshake().catch(() => {});
  const config = fakeClientConfig({ clientAuth: { certificateChain: [key.publicKeySpki], key } });
  await assert.rejects(
    startTlsWithConfig(c, config, { handshakeTimeoutMs: 5_000 }),
    (e: unknown) => {
      assert.ok(e instanceof TlsAlertReceivedError, String(e));
      assert.equal(e.received, "handshake_failure");
      assert.match(
        e.message,
        /^Server sent alert "handshake_failure" while waiting for the server's change_cipher_spec and Finished: .*; we sent no client certificate because the server accepts no signature scheme that test p256 key can produce: server offers rsa_pkcs1_sha256, rsa_pss_rsae_sha256; key supports ecdsa_secp256r1_sha256$/,
      );
      assert.equal(e.message.split("\n").length, 1);
      return true;
    },
  );
  assert.deepEqual(server.result.clientCertificates, [], "an empty Certificate (RFC 5246 7.4.6)");
  assert.ok(c.closed);
  s.close();
});
