/**
 * CertificateVerify (RFC 8446 4.4.3): the signed content equals RFC 8448's *_MessageToSign,
 * the server signatures of the traces verify, and bad ones are refused with the right alert.
 */

import assert from "node:assert/strict";
import { parseCertificate, spkiOf } from "../../x509/mod.ts";
import { toHex } from "../codec.ts";
import { TlsDecodeError, TlsPeerMisbehavedError } from "../errors.ts";
import { decodeCertificate, decodeCertificateVerify } from "../messages/mod.ts";
import {
  certificateVerifyContent,
  CLIENT_CONTEXT,
  SERVER_CONTEXT,
  verifyServerSignature,
} from "./signature.ts";
import { Transcript } from "./transcript.ts";
import { rfc8448, type Rfc8448Section } from "../testing/mod.ts";

/** Transcript hash through the server's Certificate (the input of its CertificateVerify). */
function hashThroughCertificate(v: Rfc8448Section): Uint8Array {
  const t = new Transcript();
  if (v.Record_HelloRetryRequest) {
    t.add(v.Record_ClientHello_1.subarray(5));
    t.replaceWithMessageHash("SHA-256");
    t.add(v.Record_HelloRetryRequest.subarray(5));
    t.add(v.Record_ClientHello_2.subarray(5));
  } else {
    t.add(v.Record_ClientHello_1.subarray(5));
    t.selectHash("SHA-256");
  }
  for (
    const m of [
      v.Message_ServerHello,
      v.Message_EncryptedExtensions,
      v.Message_CertificateRequest,
      v.Message_Server_Certificate,
    ]
  ) if (m) t.add(m);
  return t.digest();
}

const SECTIONS = [
  "Simple_1RTT_Handshake",
  "HelloRetryRequest_Handshake",
  "Client_Authentication_Handshake",
  "Middlebox_Compatibility_Mode",
];

Deno.test("certificateVerifyContent() equals RFC 8448's Server_MessageToSign in every trace", () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    const content = certificateVerifyContent(SERVER_CONTEXT, hashThroughCertificate(v));
    assert.equal(toHex(content), toHex(v.Server_MessageToSign), s);
  }
});

Deno.test("verifyServerSignature() accepts the RFC 8448 server signatures (RSA-PSS and ECDSA)", async () => {
  for (const s of SECTIONS) {
    const v = rfc8448(s);
    const cert = decodeCertificate(v.Message_Server_Certificate.subarray(4)).entries[0].certData;
    const cv = decodeCertificateVerify(v.Message_Server_CertificateVerify.subarray(4));
    const spki = spkiOf(parseCertificate(cert));
    await verifyServerSignature(cv.scheme, spki, v.Server_MessageToSign, cv.signature);
    const wrong = v.Server_MessageToSign.slice();
    wrong[wrong.length - 1] ^= 1;
    await assert.rejects(
      verifyServerSignature(cv.scheme, spki, wrong, cv.signature),
      (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "decrypt_error",
    );
  }
});

Deno.test("certificateVerifyContent() with the client context equals Client_MessageToSign", () => {
  const v = rfc8448("Client_Authentication_Handshake");
  // The client signs the transcript through its own Certificate; the trace's message to sign
  // shows the layout: 64 spaces, the context, a zero byte, then the 32-byte hash.
  const expected = v.Client_MessageToSign;
  const hash = expected.subarray(expected.length - 32);
  assert.equal(toHex(certificateVerifyContent(CLIENT_CONTEXT, hash)), toHex(expected));
});

Deno.test("verifyServerSignature() refuses PKCS#1, a scheme that does not fit the key, and bad DER", async () => {
  const v = rfc8448("Client_Authentication_Handshake"); // ECDSA P-256 server
  const cert = decodeCertificate(v.Message_Server_Certificate.subarray(4)).entries[0].certData;
  const spki = spkiOf(parseCertificate(cert));
  const cv = decodeCertificateVerify(v.Message_Server_CertificateVerify.subarray(4));
  const msg = v.Server_MessageToSign;
  await assert.rejects(
    verifyServerSignature(0x0401, spki, msg, cv.signature),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "illegal_parameter",
  );
  for (const scheme of [0x0503, 0x0807, 0x0804]) {
    await assert.rejects(
      verifyServerSignature(scheme, spki, msg, cv.signature),
      (e: unknown) =>
        e instanceof TlsPeerMisbehavedError &&
        ["illegal_parameter", "decrypt_error"].includes(e.alertToSend!),
      `scheme ${scheme}`,
    );
  }
  const bad = cv.signature.slice();
  bad[1] += 1; // SEQUENCE length no longer matches
  await assert.rejects(verifyServerSignature(0x0403, spki, msg, bad), TlsDecodeError);
});
