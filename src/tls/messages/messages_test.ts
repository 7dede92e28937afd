/**
 * Message codecs: every handshake message of the RFC 8448 traces decodes and re-encodes to the
 * same bytes, and our own ClientHello matches the trace in every part we generate.
 *
 * RFC 8448's ClientHellos carry extensions we do not send (renegotiation_info, session_ticket,
 * psk_key_exchange_modes, record_size_limit, padding, more groups and schemes) and lack
 * signature_algorithms_cert, so our ClientHello cannot equal Record_ClientHello_1 as a whole:
 * each extension we do send is compared byte for byte instead, and the full message is
 * compared when built from the trace's extension list.
 */

import assert from "node:assert/strict";
import { concatBytes, toHex } from "../codec.ts";
import { TlsDecodeError, TlsPeerMisbehavedError } from "../errors.ts";
import { buildClientHello } from "../handshake/mod.ts";
import { KeyShare } from "../handshake/mod.ts";
import { fixedRandom } from "../testing/mod.ts";
import { rfc8448 } from "../testing/mod.ts";
import {
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
  decodeClientHello,
  decodeEncryptedExtensions,
  decodeFinished,
  decodeKeyUpdate,
  decodeNewSessionTicket,
  decodeServerHello,
  downgradeSentinel,
  encodeCertificateEntries,
  encodeCertificateRequest,
  encodeCertificateVerify,
  encodeClientHello,
  encodeEncryptedExtensions,
  encodeFinished,
  encodeKeyUpdate,
  encodeNewSessionTicket,
  encodeServerHello,
  ExtensionType,
  findExtension,
  HandshakeReassembler,
  isHelloRetryRequest,
  parseCookie,
  parseHrrKeyShare,
} from "./mod.ts";

const SECTIONS = [
  "Simple_1RTT_Handshake",
  "HelloRetryRequest_Handshake",
  "Client_Authentication_Handshake",
  "Middlebox_Compatibility_Mode",
];

Deno.test("decodeClientHello() and encodeClientHello() round-trip every RFC 8448 ClientHello", () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    for (const key of ["Record_ClientHello_1", "Record_ClientHello_2"]) {
      if (!v[key]) continue;
      const msg = v[key].subarray(5);
      assert.equal(toHex(encodeClientHello(decodeClientHello(msg.subarray(4)))), toHex(msg), s);
    }
  }
});

Deno.test("decodeServerHello() and encodeServerHello() round-trip ServerHello and HelloRetryRequest", () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    const sh = decodeServerHello(v.Message_ServerHello.subarray(4));
    assert.equal(isHelloRetryRequest(sh), false);
    assert.equal(toHex(encodeServerHello(sh)), toHex(v.Message_ServerHello));
  }
  const v = rfc8448("HelloRetryRequest_Handshake");
  const hrrMsg = v.Record_HelloRetryRequest.subarray(5);
  const hrr = decodeServerHello(hrrMsg.subarray(4));
  assert.equal(isHelloRetryRequest(hrr), true);
  assert.equal(parseHrrKeyShare(findExtension(hrr.extensions, ExtensionType.key_share)!), 0x0017);
  assert.equal(
    toHex(parseCookie(findExtension(hrr.extensions, ExtensionType.cookie)!)),
    toHex(v.HelloRetryRequest_Cookie),
  );
  assert.equal(toHex(encodeServerHello(hrr)), toHex(hrrMsg));
});

Deno.test("server message codecs round-trip the RFC 8448 encrypted flights", () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    const ee = v.Message_EncryptedExtensions;
    assert.equal(
      toHex(encodeEncryptedExtensions(decodeEncryptedExtensions(ee.subarray(4)))),
      toHex(ee),
    );
    const cert = v.Message_Server_Certificate;
    assert.equal(toHex(encodeCertificateEntries(decodeCertificate(cert.subarray(4)))), toHex(cert));
    const cv = v.Message_Server_CertificateVerify;
    assert.equal(
      toHex(encodeCertificateVerify(decodeCertificateVerify(cv.subarray(4)))),
      toHex(cv),
    );
    const fin = v.Message_Server_Finished;
    assert.equal(toHex(encodeFinished(decodeFinished(fin.subarray(4), 32))), toHex(fin));
  }
  const cr = rfc8448("Client_Authentication_Handshake").Message_CertificateRequest;
  const decoded = decodeCertificateRequest(cr.subarray(4));
  assert.deepEqual(decoded.signatureAlgorithms.slice(0, 3), [0x0403, 0x0503, 0x0603]);
  assert.equal(toHex(encodeCertificateRequest(decoded.context, decoded.extensions)), toHex(cr));
});

Deno.test("decodeNewSessionTicket() and decodeKeyUpdate() round-trip", () => {
  const t = {
    lifetime: 30,
    ageAdd: 0xfad6aac5,
    nonce: new Uint8Array([0, 0]),
    ticket: new Uint8Array([1, 2, 3]),
    extensions: [{ type: ExtensionType.early_data, data: new Uint8Array([0, 0, 4, 0]) }],
  };
  const msg = encodeNewSessionTicket(t);
  assert.deepEqual(decodeNewSessionTicket(msg.subarray(4)), t);
  assert.equal(toHex(encodeKeyUpdate(true)), "1800000101");
  assert.deepEqual(decodeKeyUpdate(new Uint8Array([0])), { updateRequested: false });
  assert.throws(
    () => decodeKeyUpdate(new Uint8Array([2])),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "illegal_parameter",
  );
});

Deno.test("buildClientHello() matches RFC 8448's random, key_share, server_name and supported_versions", async () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    const trace = decodeClientHello(v.Record_ClientHello_1.subarray(9));
    const sid = s === "Middlebox_Compatibility_Mode";
    const pool = fixedRandom(v.Client_RNG_Pool);
    const random = pool.bytes(32);
    const sessionId = sid ? pool.bytes(32) : new Uint8Array(0);
    const share = await KeyShare.generate(0x001d, pool);
    const ours = buildClientHello(
      {
        sni: "server",
        cipherSuites: [0x1301, 0x1303, 0x1302],
        groups: [0x001d],
        alpn: undefined,
        allowTls12: false,
      },
      random,
      sessionId,
      [share],
    );
    assert.equal(toHex(ours.random), toHex(trace.random));
    assert.equal(toHex(ours.legacySessionId), toHex(trace.legacySessionId));
    assert.deepEqual(ours.cipherSuites, trace.cipherSuites);
    for (
      const type of [
        ExtensionType.server_name,
        ExtensionType.key_share,
        ExtensionType.supported_versions,
      ]
    ) {
      assert.equal(
        toHex(findExtension(ours.extensions, type)!.data),
        toHex(findExtension(trace.extensions, type)!.data),
        `${s} extension ${type}`,
      );
    }
    // With the trace's extension list, our encoder gives the trace's record body exactly.
    const full = encodeClientHello({ ...ours, extensions: trace.extensions });
    assert.equal(toHex(full), toHex(v.Record_ClientHello_1.subarray(5)));
  }
});

Deno.test("buildClientHello() sends no server_name for an IP literal, and TLS 1.3 alone when asked", async () => {
  const share = await KeyShare.generate(0x001d, fixedRandom(new Uint8Array(32).fill(9)));
  const ch = buildClientHello(
    {
      sni: undefined,
      cipherSuites: [0x1301],
      groups: [0x001d, 0x0017],
      alpn: ["mqtt"],
      allowTls12: false,
    },
    new Uint8Array(32),
    new Uint8Array(32),
    [share],
  );
  assert.equal(findExtension(ch.extensions, ExtensionType.server_name), undefined);
  assert.equal(
    toHex(findExtension(ch.extensions, ExtensionType.supported_versions)!.data),
    "020304",
  );
  for (const tls12Only of [0x0017, 0xff01, 0x000b]) {
    assert.equal(
      findExtension(ch.extensions, tls12Only),
      undefined,
      `no ${tls12Only} for 1.3 only`,
    );
  }
  assert.ok(!toHex(findExtension(ch.extensions, 0x000d)!.data).includes("0401"), "no PKCS#1");
  assert.equal(
    toHex(findExtension(ch.extensions, ExtensionType.application_layer_protocol_negotiation)!.data),
    "000504" + "6d717474",
  );
  assert.ok(findExtension(ch.extensions, ExtensionType.signature_algorithms_cert));
  const decoded = decodeClientHello(encodeClientHello(ch).subarray(4));
  assert.equal(decoded.extensions.length, ch.extensions.length);
});

Deno.test("buildClientHello() offering TLS 1.2 too: versions, EMS, renegotiation_info, point formats, PKCS#1", async () => {
  const share = await KeyShare.generate(0x001d, fixedRandom(new Uint8Array(32).fill(9)));
  const ch = buildClientHello(
    {
      sni: "broker.example",
      cipherSuites: [0x1301, 0xc02b, 0xc02f],
      groups: [0x001d],
      alpn: undefined,
      allowTls12: true,
    },
    new Uint8Array(32),
    new Uint8Array(32),
    [share],
  );
  const ext = (type: number) => toHex(findExtension(ch.extensions, type)!.data);
  assert.equal(ext(ExtensionType.supported_versions), "0403040303"); // TLS 1.3 first
  assert.equal(ext(ExtensionType.extended_master_secret), ""); // RFC 7627 5.1
  assert.equal(ext(ExtensionType.renegotiation_info), "00"); // RFC 5746 3.4
  assert.equal(ext(ExtensionType.ec_point_formats), "0100"); // RFC 8422 5.1.2
  // RSA PKCS#1 v1.5 after every TLS 1.3 scheme; no SHA-1 (0x0201, 0x0203).
  assert.equal(
    ext(ExtensionType.signature_algorithms),
    "0014" + "0403050306030807080408050806" + "040105010601",
  );
  assert.deepEqual(ch.cipherSuites, [0x1301, 0xc02b, 0xc02f]);
});

Deno.test("decoders refuse truncated, overlong and trailing input with decode_error", () => {
  const sh = rfc8448("Simple_1RTT_Handshake").Message_ServerHello.subarray(4);
  for (let cut = 1; cut < sh.length; cut += 7) {
    assert.throws(() => decodeServerHello(sh.subarray(0, cut)), TlsDecodeError);
  }
  assert.throws(() => decodeServerHello(concatBytes(sh, new Uint8Array([0]))), TlsDecodeError);
  const cert = rfc8448("Simple_1RTT_Handshake").Message_Server_Certificate.slice(4);
  cert[3] = 0xff; // certificate_list length beyond the message
  assert.throws(() => decodeCertificate(cert), TlsDecodeError);
  assert.throws(() => decodeFinished(new Uint8Array(31), 32), TlsDecodeError);
});

Deno.test("decodeEncryptedExtensions() refuses an extension sent twice with illegal_parameter", () => {
  const body = new Uint8Array([0, 8, 0, 0x10, 0, 0, 0, 0x10, 0, 0]);
  assert.throws(
    () => decodeEncryptedExtensions(body),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "illegal_parameter",
  );
});

Deno.test("decodeCertificateRequest() requires signature_algorithms", () => {
  assert.throws(
    () => decodeCertificateRequest(new Uint8Array([0, 0, 0])),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "missing_extension",
  );
});

Deno.test("downgradeSentinel() recognises the TLS 1.2 and TLS 1.1 markers of RFC 8446 4.1.3", () => {
  const r = new Uint8Array(32);
  r.set([0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01], 24);
  assert.equal(downgradeSentinel(r), "TLS 1.2");
  r[31] = 0;
  assert.equal(downgradeSentinel(r), "TLS 1.1");
  r[30] = 0;
  assert.equal(downgradeSentinel(r), undefined);
});

Deno.test("HandshakeReassembler joins fragments, splits coalesced messages and caps the size", () => {
  const fin = rfc8448("Simple_1RTT_Handshake").Message_Server_Finished;
  const ee = rfc8448("Simple_1RTT_Handshake").Message_EncryptedExtensions;
  const both = concatBytes(ee, fin);
  const r = new HandshakeReassembler();
  for (const b of both) r.push(new Uint8Array([b])); // one byte per record
  assert.equal(toHex(r.next()!.raw), toHex(ee));
  assert.equal(toHex(r.next()!.raw), toHex(fin));
  assert.equal(r.next(), undefined);
  assert.equal(r.hasPartial, false);
  const small = new HandshakeReassembler(100);
  assert.throws(() => small.push(new Uint8Array([11, 0, 0, 101])), TlsDecodeError);
});
