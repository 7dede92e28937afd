/**
 * The client handshake and connection driven byte for byte through RFC 8448 traces: the
 * server's records are replayed from the trace, and everything our client writes must equal the
 * trace's client records (ClientHello, second ClientHello, Finished flight, application data,
 * close_notify).
 *
 * RFC 8448's ClientHellos carry extensions we never send (renegotiation_info, session_ticket,
 * psk_key_exchange_modes, record_size_limit, padding, ffdhe groups) and lack
 * signature_algorithms_cert. The `shapeClientHello` test hook therefore first checks the parts we
 * do generate (random, legacy_session_id, key_share with the injected key, server_name,
 * supported_versions, cookie echo) byte for byte against the trace, then substitutes the
 * trace's ClientHello so the transcript, and with it every later byte, can be compared.
 */

import assert from "node:assert/strict";
import type { SigningKey } from "../../keys/mod.ts";
import { parseCertificate, spkiOf, TrustStore } from "../../x509/mod.ts";
import { cipherSuiteInfo } from "../cipher_suites.ts";
import { bytesEqual, concatBytes, toHex } from "../codec.ts";
import { startTlsWithConfig } from "../client.ts";
import type { HandshakeConfig } from "./config.ts";
import { EarlySecret } from "../key_schedule.ts";
import { KeyShare } from "./key_share.ts";
import {
  type ClientHello,
  decodeCertificate,
  decodeClientHello,
  decodeServerHello,
  type Extension,
  ExtensionType,
  findExtension,
  parseServerKeyShare,
} from "../messages/mod.ts";
import { fixedRandom } from "../testing/mod.ts";
import { RecordDecrypter } from "../record/mod.ts";
import { Transcript } from "./transcript.ts";
import { rfc8448, type Rfc8448Section, splitHandshakeMessages } from "../testing/mod.ts";
import { ScriptedTransport } from "../testing/mod.ts";

const RSA_CERT_SUBJECT = "CN=rsa";

function ext(ch: ClientHello, type: number): Extension | undefined {
  return findExtension(ch.extensions, type);
}

/** Checks our ClientHello's generated parts against the trace's, then returns the trace's. */
function shapeLike(expected: ClientHello[]) {
  return (ours: ClientHello, index: 1 | 2): ClientHello => {
    const trace = expected[index - 1];
    assert.equal(toHex(ours.random), toHex(trace.random), `ClientHello${index} random`);
    for (
      const type of [
        ExtensionType.server_name,
        ExtensionType.supported_versions,
        ExtensionType.key_share,
        ExtensionType.cookie,
      ]
    ) {
      const a = ext(ours, type), b = ext(trace, type);
      assert.equal(a && toHex(a.data), b && toHex(b.data), `ClientHello${index} ext ${type}`);
    }
    // Our suites are the trace's in another order: same set.
    assert.deepEqual([...ours.cipherSuites].sort(), [...trace.cipherSuites].sort());
    if (trace.legacySessionId.length) {
      assert.equal(toHex(ours.legacySessionId), toHex(trace.legacySessionId));
    }
    return trace;
  };
}

/** Verifier that skips chain building (RFC 8448's 1024-bit RSA test certificate is not one a
 * trust store would accept) but hands the real leaf key to our CertificateVerify check. */
function leafOnlyVerifier(seen: { chain?: Uint8Array[] }) {
  return (opts: { chain: Uint8Array[]; serverName: string }) => {
    seen.chain = opts.chain;
    assert.equal(opts.serverName, "server");
    const cert = parseCertificate(opts.chain[0]);
    return Promise.resolve({ leafSpki: spkiOf(cert), subject: cert.subject });
  };
}

function config(
  v: Rfc8448Section,
  pool: Uint8Array,
  expected: ClientHello[],
  seen: { chain?: Uint8Array[] },
  extra: Partial<HandshakeConfig> = {},
): HandshakeConfig {
  return {
    serverName: "server",
    sni: "server",
    trustStore: TrustStore.fromCertificates([]),
    clientAuth: undefined,
    alpn: undefined,
    cipherSuites: [0x1301, 0x1303, 0x1302],
    groups: [0x001d, 0x0017, 0x0018],
    allowTls12: false,
    random: fixedRandom(pool),
    verifyChain: leafOnlyVerifier(seen),
    now: new Date(Number(new TextDecoder().decode(v.CurrentTimestamp ?? new Uint8Array()))),
    shapeClientHello: shapeLike(expected),
    ...extra,
  };
}

/** The pool as our client draws it: random, legacy_session_id, then key shares. */
function poolWithSessionId(pool: Uint8Array, sessionId = new Uint8Array(32)): Uint8Array {
  return concatBytes(pool.subarray(0, 32), sessionId, pool.subarray(32));
}

const chOf = (record: Uint8Array) => decodeClientHello(record.subarray(9));

Deno.test("client handshake replays RFC 8448 simple 1-RTT byte for byte", async () => {
  const v = rfc8448("Simple_1RTT_Handshake");
  const t = new ScriptedTransport([
    v.Record_ServerHello,
    v.Record_ServerHandshakeMessages,
    v.Record_NewSessionTicket,
    v.Record_Server_AppData,
    v.Record_Server_CloseNotify,
  ]);
  const seen: { chain?: Uint8Array[] } = {};
  const conn = await startTlsWithConfig(
    t,
    config(v, poolWithSessionId(v.Client_RNG_Pool), [chOf(v.Record_ClientHello_1)], seen),
    {},
  );
  assert.equal(
    toHex(t.output),
    toHex(concatBytes(v.Record_ClientHello_1, v.Record_ClientFinished)),
  );
  assert.equal(conn.info.suite, "TLS_AES_128_GCM_SHA256");
  assert.equal(conn.info.group, "x25519");
  assert.equal(conn.info.hrr, false);
  assert.equal(conn.info.serverSignatureScheme, "rsa_pss_rsae_sha256");
  assert.equal(conn.info.serverSubject, RSA_CERT_SUBJECT);
  assert.equal(conn.info.clientCertificateRequested, false);
  assert.equal(conn.info.serverChain.length, 1);
  // NewSessionTicket is read and dropped; then the server's application data.
  assert.equal(toHex((await conn.read())!), toHex(v.Server_AppData));
  t.written.length = 0;
  await conn.write(v.Client_AppData);
  assert.equal(toHex(t.output), toHex(v.Record_Client_AppData));
  assert.equal(await conn.read(), null, "close_notify ends the stream");
  t.written.length = 0;
  await conn.close();
  assert.equal(toHex(t.output), toHex(v.Record_Client_CloseNotify));
  assert.ok(t.closed);
  await conn.closed;
});

Deno.test("client handshake replays RFC 8448 HelloRetryRequest byte for byte", async () => {
  const v = rfc8448("HelloRetryRequest_Handshake");
  const t = new ScriptedTransport([
    v.Record_HelloRetryRequest,
    v.Record_ServerHello,
    v.Record_ServerHandshakeMessages,
    v.Record_Server_CloseNotify,
  ]);
  const conn = await startTlsWithConfig(
    t,
    config(
      v,
      poolWithSessionId(v.Client_RNG_Pool),
      [chOf(v.Record_ClientHello_1), chOf(v.Record_ClientHello_2)],
      {},
    ),
    {},
  );
  assert.equal(
    toHex(t.output),
    toHex(concatBytes(v.Record_ClientHello_1, v.Record_ClientHello_2, v.Record_ClientFinished)),
  );
  assert.equal(conn.info.hrr, true);
  assert.equal(conn.info.group, "secp256r1");
  assert.equal(await conn.read(), null);
  t.written.length = 0;
  await conn.close();
  assert.equal(toHex(t.output), toHex(v.Record_Client_CloseNotify));
});

Deno.test("client handshake replays RFC 8448 middlebox compatibility mode byte for byte", async () => {
  const v = rfc8448("Middlebox_Compatibility_Mode");
  const t = new ScriptedTransport([
    v.Record_ServerHello,
    v.Record_ServerHandshakeMessages, // holds the server's dummy change_cipher_spec first
    v.Record_Server_CloseNotify,
  ]);
  const conn = await startTlsWithConfig(
    t,
    config(v, v.Client_RNG_Pool, [chOf(v.Record_ClientHello_1)], {}),
    {},
  );
  // Record_ClientFinished begins with our dummy change_cipher_spec (RFC 8446 D.4).
  assert.equal(
    toHex(t.output),
    toHex(concatBytes(v.Record_ClientHello_1, v.Record_ClientFinished)),
  );
  assert.equal(await conn.read(), null);
  t.written.length = 0;
  await conn.close();
  assert.equal(toHex(t.output), toHex(v.Record_Client_CloseNotify));
});

/** The client's own Certificate message, recovered by decrypting its Finished flight. */
async function clientFlightOf(v: Rfc8448Section): Promise<Uint8Array[]> {
  const suite = cipherSuiteInfo(0x1301)!;
  const share = await KeyShare.generate(0x001d, fixedRandom(v.Client_RNG_Pool.subarray(32)));
  const sh = decodeServerHello(v.Message_ServerHello.subarray(4));
  const entry = parseServerKeyShare(findExtension(sh.extensions, ExtensionType.key_share)!);
  const t = new Transcript();
  t.add(v.Record_ClientHello_1.subarray(5));
  t.selectHash("SHA-256");
  t.add(v.Message_ServerHello);
  const hs = EarlySecret.create(suite).handshakeSecret(await share.sharedSecret(entry.keyExchange));
  const d = RecordDecrypter.create(hs.trafficSecrets(t.digest()).client);
  const rec = v.Record_ClientFinished;
  const { content } = d.open(rec.subarray(0, 5), rec.subarray(5));
  return splitHandshakeMessages(content);
}

Deno.test("client handshake replays RFC 8448 client authentication byte for byte", async () => {
  const v = rfc8448("Client_Authentication_Handshake");
  const [certificateMsg] = await clientFlightOf(v);
  const chain = decodeCertificate(certificateMsg.subarray(4)).entries.map((e) => e.certData);
  const signed: Uint8Array[] = [];
  // A key whose "signature" is the trace's: the message it is asked to sign must be the
  // trace's Client_MessageToSign, or the bytes would differ.
  const key: SigningKey = {
    description: "RFC 8448 client key",
    keyType: { kind: "rsa", bits: 1024 },
    publicKeySpki: spkiOf(parseCertificate(chain[0])),
    schemes: [0x0804],
    chooseScheme(offered) {
      if (!offered.includes(0x0804)) return undefined;
      return {
        scheme: 0x0804,
        sign(message: Uint8Array) {
          signed.push(message);
          return Promise.resolve(v.Client_MessageSignature);
        },
      };
    },
  };
  const t = new ScriptedTransport([
    v.Record_ServerHello,
    v.Record_ServerHandshakeMessages,
    v.Record_Server_CloseNotify,
  ]);
  const conn = await startTlsWithConfig(
    t,
    config(v, poolWithSessionId(v.Client_RNG_Pool), [chOf(v.Record_ClientHello_1)], {}, {
      clientAuth: { certificateChain: chain, key },
    }),
    {},
  );
  assert.equal(signed.length, 1);
  assert.ok(bytesEqual(signed[0], v.Client_MessageToSign), "CertificateVerify input");
  assert.equal(
    toHex(t.output),
    toHex(concatBytes(v.Record_ClientHello_1, v.Record_ClientFinished)),
  );
  assert.equal(conn.info.clientCertificateRequested, true);
  assert.equal(conn.info.clientSignatureScheme, "rsa_pss_rsae_sha256");
  assert.equal(conn.info.serverSignatureScheme, "ecdsa_secp256r1_sha256");
  assert.ok(conn.info.timings.signatureMs !== undefined);
  await conn.close();
});
