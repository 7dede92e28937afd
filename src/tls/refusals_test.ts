/**
 * Protocol violations by the server, each refused with the RFC 8446 alert, the alert sent back
 * (protected with the right keys), and an error class that says whose fault it was.
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
import {
  encodeServerHello,
  extension,
  ExtensionType,
  HELLO_RETRY_REQUEST_RANDOM,
  type ServerHello,
} from "./messages/mod.ts";
import { encodePlaintextRecord } from "./record/mod.ts";
import { fakeClientConfig, FakeServer, type FakeServerOptions } from "./testing/mod.ts";
import { pipePair } from "./testing/mod.ts";

type ErrorClass = new (...args: never[]) => TlsError;

async function refused(
  opts: FakeServerOptions,
  expected: { cls: ErrorClass; alert: string; message?: RegExp; sent?: string | null },
  config: Partial<HandshakeConfig> = {},
): Promise<void> {
  const [c, s] = pipePair();
  const server = new FakeServer(s, opts);
  server.handshake().catch(() => {});
  await assert.rejects(
    startTlsWithConfig(c, fakeClientConfig(config), { handshakeTimeoutMs: 5_000 }),
    (e: unknown) => {
      assert.ok(e instanceof expected.cls, `${(e as Error).name}: ${(e as Error).message}`);
      assert.equal((e as TlsError).alertToSend, expected.alert, (e as Error).message);
      if (expected.message) assert.match((e as Error).message, expected.message);
      return true;
    },
  );
  assert.equal(await server.readAlert(), expected.sent === null ? undefined : expected.alert);
  assert.ok(c.closed, "the client closed its end");
  s.close();
}

const withExtensions =
  (extra: (sh: ServerHello) => ServerHello["extensions"]) => (sh: ServerHello) => ({
    ...sh,
    extensions: extra(sh),
  });
const sv = (v: number) => extension(ExtensionType.supported_versions, (w) => w.u16(v));

Deno.test("a second HelloRetryRequest is refused with unexpected_message", async () => {
  await refused({ groups: [0x0017], tamper: { secondHrr: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unexpected_message",
    message: /second HelloRetryRequest/,
  });
});

Deno.test("a HelloRetryRequest that changes nothing is refused with illegal_parameter", async () => {
  const keepOnlyVersion = withExtensions((h) => h.extensions.filter((e) => e.type === 0x002b));
  await refused({ groups: [0x0017], tamper: { helloRetryRequest: keepOnlyVersion } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /would not change our ClientHello/,
  });
});

Deno.test("a HelloRetryRequest for a group already shared or never offered is refused", async () => {
  for (const group of [0x001d, 0x0019]) {
    const ask = withExtensions(() => [
      sv(0x0304),
      extension(ExtensionType.key_share, (w) => w.u16(group)),
    ]);
    await refused({ groups: [0x0017], tamper: { helloRetryRequest: ask } }, {
      cls: TlsPeerMisbehavedError,
      alert: "illegal_parameter",
    });
  }
});

Deno.test("a TLS 1.2 ServerHello is protocol_version when TLS 1.3 only is allowed, TLS 1.1 always", async () => {
  // TLS 1.2 answers are taken when offered (tls12_refusals_test.ts, client_test.ts); here the
  // connection was set to TLS 1.3 only.
  const tls12 = (sh: ServerHello) => ({ ...sh, extensions: [] });
  await refused({ tamper: { serverHello: tls12 } }, {
    cls: TlsPeerIncompatibleError,
    alert: "protocol_version",
    message:
      /^Server server\.test does not speak TLS 1\.3: it answered with TLS 1\.2, and this connection allows TLS 1\.3 only$/,
  }, { allowTls12: false, cipherSuites: [0x1301] });
  const tls11 = (sh: ServerHello) => ({ ...sh, legacyVersion: 0x0302, extensions: [] });
  await refused({ tamper: { serverHello: tls11 } }, {
    cls: TlsPeerIncompatibleError,
    alert: "protocol_version",
    message: /^Server server\.test does not speak TLS 1\.3 or TLS 1\.2: it answered with TLS 1\.1$/,
  });
});

Deno.test("a ServerHello with a downgrade sentinel, or selecting TLS 1.2 in supported_versions, is illegal_parameter", async () => {
  // RFC 8446 4.1.3: a TLS 1.3 server that answers TLS 1.2 marks its random; we offered TLS
  // 1.3, so someone removed it on the way. Refused whether or not TLS 1.2 is allowed.
  for (const [marker, allowTls12] of [[0x01, true], [0x00, true], [0x01, false]] as const) {
    const downgraded = (sh: ServerHello) => {
      const random = sh.random.slice();
      random.set([0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, marker], 24);
      return { ...sh, random, extensions: [] };
    };
    await refused({ tamper: { serverHello: downgraded } }, {
      cls: TlsPeerMisbehavedError,
      alert: "illegal_parameter",
      message: /downgrade sentinel \(TLS 1\.[12]\): someone may be tampering with the connection/,
    }, { allowTls12 });
  }
  const selects12 = withExtensions((sh) => [sv(0x0303), ...sh.extensions.slice(1)]);
  await refused({ tamper: { serverHello: selects12 } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
  });
});

Deno.test("ServerHello fields that do not match our offer are illegal_parameter", async () => {
  const cases: [string, (sh: ServerHello) => ServerHello, Partial<HandshakeConfig>?][] = [
    ["session id", (sh) => ({ ...sh, legacySessionIdEcho: new Uint8Array(32) })],
    ["suite", (sh) => ({ ...sh, cipherSuite: 0x1302 }), { cipherSuites: [0x1301] }],
    ["unknown suite", (sh) => ({ ...sh, cipherSuite: 0x00ff })],
    ["compression", (sh) => ({ ...sh, legacyCompressionMethod: 1 })],
    ["legacy_version", (sh) => ({ ...sh, legacyVersion: 0x0304 })],
    [
      "share for an unshared group",
      withExtensions(() => [
        sv(0x0304),
        extension(ExtensionType.key_share, (w) => w.u16(0x0017).vector(2, new Uint8Array(65))),
      ]),
    ],
    [
      "low-order x25519 share",
      withExtensions(() => [
        sv(0x0304),
        extension(ExtensionType.key_share, (w) => w.u16(0x001d).vector(2, new Uint8Array(32))),
      ]),
    ],
  ];
  for (const [, tamper, config] of cases) {
    await refused({ tamper: { serverHello: tamper } }, {
      cls: TlsPeerMisbehavedError,
      alert: "illegal_parameter",
    }, config);
  }
});

Deno.test("an invalid secp256r1 or secp384r1 point after a HelloRetryRequest is illegal_parameter", async () => {
  for (const [group, len] of [[0x0017, 65], [0x0018, 97]]) {
    for (
      const bad of [new Uint8Array(len), new Uint8Array(len).fill(0xff), new Uint8Array(len - 1)]
    ) {
      bad[0] = 0x04;
      const share = withExtensions(() => [
        sv(0x0304),
        extension(ExtensionType.key_share, (w) => w.u16(group).vector(2, bad)),
      ]);
      await refused({ groups: [group], tamper: { serverHello: share } }, {
        cls: TlsPeerMisbehavedError,
        alert: "illegal_parameter",
        message: /invalid secp(256|384)r1 key share/,
      });
    }
  }
});

Deno.test("ServerHello extensions we did not ask for, or a missing key_share, are refused", async () => {
  await refused(
    {
      tamper: {
        serverHello: withExtensions((sh) => [
          ...sh.extensions,
          extension(ExtensionType.pre_shared_key, (w) => w.u16(0)),
        ]),
      },
    },
    { cls: TlsPeerMisbehavedError, alert: "unsupported_extension" },
  );
  await refused(
    {
      tamper: {
        serverHello: withExtensions((sh) => [
          ...sh.extensions,
          extension(ExtensionType.signature_algorithms, (w) => w.u16List(2, [0x0403])),
        ]),
      },
    },
    { cls: TlsPeerMisbehavedError, alert: "illegal_parameter" },
  );
  await refused(
    { tamper: { serverHello: withExtensions((sh) => sh.extensions.slice(0, 1)) } },
    { cls: TlsPeerMisbehavedError, alert: "missing_extension" },
  );
});

Deno.test("EncryptedExtensions with unsolicited or misplaced extensions are refused", async () => {
  const alpn = (p: string) =>
    extension(
      ExtensionType.application_layer_protocol_negotiation,
      (w) => w.sub(2, (l) => l.vector(1, new TextEncoder().encode(p))),
    );
  const cases: [FakeServerOptions["tamper"], string, Partial<HandshakeConfig>?][] = [
    [
      { eeExtensions: [extension(ExtensionType.max_fragment_length, (w) => w.u8(1))] },
      "unsupported_extension",
    ],
    [
      { eeExtensions: [extension(ExtensionType.key_share, (w) => w.u16(0x001d))] },
      "illegal_parameter",
    ],
    [{ eeExtensions: [alpn("mqtt")] }, "unsupported_extension"],
    [{ eeExtensions: [alpn("h2")] }, "illegal_parameter", { alpn: ["mqtt"] }],
    [{ eeExtensions: [extension(ExtensionType.server_name, (w) => w.u8(0))] }, "decode_error"],
  ];
  for (const [tamper, alert, config] of cases) {
    await refused({ tamper }, {
      cls: TlsPeerMisbehavedError,
      alert,
    }, config);
  }
});

Deno.test("the ALPN protocol the server selects is reported", async () => {
  const [c, s] = pipePair();
  const server = new FakeServer(s, { alpn: "mqtt" });
  server.handshake().catch(() => {});
  const conn = await startTlsWithConfig(c, fakeClientConfig({ alpn: ["x-other", "mqtt"] }), {});
  assert.equal(conn.info.alpn, "mqtt");
  await conn.close();
});

Deno.test("a wrong CertificateVerify is decrypt_error; a scheme we did not offer is illegal_parameter", async () => {
  await refused({ tamper: { corruptSignature: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "decrypt_error",
  });
  await refused({ tamper: { cvScheme: 0x0401 } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /rsa_pkcs1_sha256, which we did not offer/,
  });
  // ed25519 is offered, but the server's key is P-256.
  await refused({ tamper: { cvScheme: 0x0807 } }, {
    cls: TlsPeerMisbehavedError,
    alert: "illegal_parameter",
    message: /does not fit the key/,
  });
});

Deno.test("a wrong server Finished is refused with decrypt_error", async () => {
  await refused({ tamper: { corruptFinished: true } }, {
    cls: TlsPeerMisbehavedError,
    alert: "decrypt_error",
  });
});

Deno.test("server messages out of order are refused with unexpected_message", async () => {
  const reorderings: ((m: Uint8Array[]) => Uint8Array[])[] = [
    (m) => [m[1], m[0], ...m.slice(2)], // Certificate before EncryptedExtensions
    (m) => [m[0], m[1], m[3]], // no CertificateVerify
    (m) => [m[0], m[3]], // no Certificate
    (m) => [m[0], m[1], m[2], m[2], m[3]], // CertificateVerify twice
  ];
  for (const flight of reorderings) {
    await refused({ tamper: { flight } }, {
      cls: TlsPeerMisbehavedError,
      alert: "unexpected_message",
    });
  }
});

Deno.test("an empty server Certificate is decode_error", async () => {
  const emptyCert = new Uint8Array([11, 0, 0, 4, 0, 0, 0, 0]);
  await refused({ tamper: { flight: (m) => [m[0], emptyCert, ...m.slice(2)] } }, {
    cls: TlsDecodeError,
    alert: "decode_error",
  });
});

Deno.test("a handshake message that spans the switch to handshake keys is refused", async () => {
  await refused({ tamper: { serverHelloRecordExtra: new Uint8Array([8, 0, 0]) } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unexpected_message",
  });
  // Another plaintext handshake record once the server's keys are in use.
  const plain = encodePlaintextRecord(22, new Uint8Array([8, 0, 0, 2, 0, 0]));
  await refused({ tamper: { afterServerHello: plain } }, {
    cls: TlsPeerMisbehavedError,
    alert: "unexpected_message",
  });
});

Deno.test("application data before the server's Finished is refused, an empty record too (RFC 8446 5.1)", async () => {
  const appData = (n: number) => ({ type: 23, content: new Uint8Array(n) });
  type Records = { type: number; content: Uint8Array }[];
  const cases: [string, number | undefined, (r: Records) => Records, RegExp][] = [
    // First under the handshake keys, before EncryptedExtensions.
    ["first", undefined, (r) => [appData(0), ...r], /^Server sent an empty application_data/],
    // Right before Finished (the flight in 100-byte records: Finished is the last two).
    ["before Finished", 100, (r) => [...r.slice(0, -1), appData(0), ...r.slice(-1)], /empty/],
    // Between two fragments of the Certificate message (10-byte records: the first holds the
    // 6-byte EncryptedExtensions and the Certificate's header).
    ["inside Certificate", 10, (r) => [r[0], appData(0), ...r.slice(1)], /empty/],
    // The same place with data: refused as before.
    [
      "data inside Certificate",
      10,
      (r) => [r[0], appData(1), ...r.slice(1)],
      /^Server sent application data/,
    ],
  ];
  for (const [name, recordSize, records, message] of cases) {
    await refused({ tamper: { recordSize, records } }, {
      cls: TlsPeerMisbehavedError,
      alert: "unexpected_message",
      message: new RegExp(`${message.source}.* during the server's encrypted handshake$`),
    }).catch((e) => {
      throw new Error(`${name}: ${e.message}`, { cause: e });
    });
  }
});

Deno.test("change_cipher_spec other than a single 0x01 is refused", async () => {
  for (const bad of [[20, 3, 3, 0, 1, 2], [20, 3, 3, 0, 2, 1, 1]]) {
    await refused({ tamper: { afterServerHello: new Uint8Array(bad) } }, {
      cls: TlsPeerMisbehavedError,
      alert: "unexpected_message",
    });
  }
});

Deno.test("oversized records are refused with record_overflow", async () => {
  const plain = new Uint8Array(5 + 16385);
  plain.set([22, 3, 3, 0x40, 0x01]);
  await refused({ tamper: { afterServerHello: plain } }, {
    cls: TlsPeerMisbehavedError,
    alert: "record_overflow",
  });
  const sealed = new Uint8Array(5 + 16641);
  sealed.set([23, 3, 3, 0x41, 0x01]);
  await refused({ tamper: { afterServerHello: sealed } }, {
    cls: TlsPeerMisbehavedError,
    alert: "record_overflow",
  });
});

Deno.test("a server alert during the handshake is reported with its name, and no alert is sent back", async () => {
  const [c, s] = pipePair();
  await s.write(encodePlaintextRecord(21, new Uint8Array([2, 40])));
  await assert.rejects(
    startTlsWithConfig(c, fakeClientConfig(), {}),
    (e: unknown) =>
      e instanceof TlsAlertReceivedError && e.received === "handshake_failure" &&
      /^Server sent alert "handshake_failure" while waiting for ServerHello: /.test(e.message),
  );
  s.close();
});

Deno.test("a HelloRetryRequest that picks a suite we did not offer is refused", async () => {
  const [c, s] = pipePair();
  const hrr = encodeServerHello({
    legacyVersion: 0x0303,
    random: HELLO_RETRY_REQUEST_RANDOM,
    legacySessionIdEcho: new Uint8Array(0),
    cipherSuite: 0x1303,
    legacyCompressionMethod: 0,
    extensions: [sv(0x0304), extension(ExtensionType.key_share, (w) => w.u16(0x0017))],
  });
  const p = startTlsWithConfig(c, fakeClientConfig({ cipherSuites: [0x1301] }), {});
  await s.write(encodePlaintextRecord(22, hrr));
  await assert.rejects(p, (e: unknown) => e instanceof TlsPeerMisbehavedError);
  s.close();
});
