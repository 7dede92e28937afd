/**
 * Client authentication (RFC 8446 section 4.4.2 and 4.4.3) in answer to a CertificateRequest:
 * our Certificate, then a CertificateVerify signed by the key provider's Signer. The signer
 * receives the unhashed content and returns the wire signature; TLS never sees key material.
 * Without a configured key, or with one that can make none of the signature schemes the server
 * asks for, we send an empty Certificate and no CertificateVerify (4.4.2: "If the server
 * requests client authentication but no suitable certificate is available, the client MUST
 * send a Certificate message containing no certificates"): a server for which the certificate
 * is optional goes on; one that requires it refuses with an alert after our Finished, and the
 * connection then adds why we sent none (`withheld`) to that error.
 */

import { schemeInfo, schemeName, type SigningKey } from "../../keys/mod.ts";
import { getLogger } from "../../log.ts";
import { TlsLocalError } from "../errors.ts";
import {
  type CertificateRequest,
  encodeCertificate,
  encodeCertificateVerify,
} from "../messages/mod.ts";
import { messageOf } from "../errors.ts";
import { certificateVerifyContent, CLIENT_CONTEXT } from "./signature.ts";
import type { Transcript } from "./transcript.ts";

export interface ClientAuth {
  /** DER certificates, leaf first. */
  readonly certificateChain: readonly Uint8Array[];
  readonly key: SigningKey;
}

export interface ClientAuthResult {
  /** Certificate and, when a key signed, CertificateVerify (each added to the transcript). */
  readonly messages: Uint8Array[];
  readonly scheme: number | undefined;
  readonly signatureMs: number | undefined;
  /** Why no certificate was sent although a key is configured; undefined otherwise. */
  readonly withheld?: string;
}

const log = getLogger("tls");

/** Schemes allowed in a TLS 1.3 CertificateVerify: never RSA PKCS#1 v1.5 or SHA-1 (4.2.3). */
function allowedInTls13(code: number): boolean {
  const info = schemeInfo(code);
  return info !== undefined && info.algorithm !== "rsa-pkcs1";
}

/** Builds our answer to `request`, adding each message to `transcript` as it is made. */
export async function answerCertificateRequest(
  request: CertificateRequest,
  auth: ClientAuth | undefined,
  transcript: Transcript,
): Promise<ClientAuthResult> {
  const empty = () => {
    const message = encodeCertificate(request.context, []);
    transcript.add(message);
    return { messages: [message], scheme: undefined, signatureMs: undefined };
  };
  if (!auth) return empty();
  const offered = request.signatureAlgorithms.filter(allowedInTls13);
  const signer = auth.key.chooseScheme(offered);
  if (!signer) {
    const withheld = `the server accepts no signature scheme that ${auth.key.description} ` +
      `can produce: server offers ${names(request.signatureAlgorithms)}; key supports ${
        names(auth.key.schemes)
      }`;
    // Info, not a warning: a server that requires the certificate turns this into the error.
    log.info(`Sending no client certificate: ${withheld}`);
    return { ...empty(), withheld };
  }
  if (!offered.includes(signer.scheme)) {
    throw new TlsLocalError(
      `Key "${auth.key.description}" chose ${
        schemeName(signer.scheme)
      }, which the server did not offer`,
      "internal_error",
    );
  }
  const certificate = encodeCertificate(request.context, auth.certificateChain);
  transcript.add(certificate);
  const content = certificateVerifyContent(CLIENT_CONTEXT, transcript.digest());
  const started = performance.now();
  let signature: Uint8Array;
  try {
    signature = await signer.sign(content);
  } catch (err) {
    throw new TlsLocalError(
      `Signing the TLS handshake with key "${auth.key.description}" failed: ${messageOf(err)}`,
      "internal_error",
      { cause: err },
    );
  }
  const signatureMs = performance.now() - started;
  const verify = encodeCertificateVerify({
    scheme: signer.scheme,
    signature: new Uint8Array(signature),
  });
  transcript.add(verify);
  return { messages: [certificate, verify], scheme: signer.scheme, signatureMs };
}

function names(codes: readonly number[]): string {
  return codes.length ? codes.map(schemeName).join(", ") : "(none)";
}
