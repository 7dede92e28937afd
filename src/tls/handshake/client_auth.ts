/**
 * Client authentication (RFC 8446 section 4.4.2 and 4.4.3) in answer to a CertificateRequest:
 * our Certificate, then a CertificateVerify signed by the key provider's Signer. The signer
 * receives the unhashed content and returns the wire signature; TLS never sees key material.
 * Without a configured key we send an empty Certificate (4.4.2.4) and no CertificateVerify.
 */

import { schemeInfo, schemeName, type SigningKey } from "../../keys/mod.ts";
import { TlsLocalError, TlsPeerIncompatibleError } from "../errors.ts";
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
}

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
  if (!auth) {
    const empty = encodeCertificate(request.context, []);
    transcript.add(empty);
    return { messages: [empty], scheme: undefined, signatureMs: undefined };
  }
  const offered = request.signatureAlgorithms.filter(allowedInTls13);
  const signer = auth.key.chooseScheme(offered);
  if (!signer) {
    throw new TlsPeerIncompatibleError(
      `Server accepts no signature scheme that key "${auth.key.description}" can produce: ` +
        `server offers ${names(request.signatureAlgorithms)}; key supports ${
          names(auth.key.schemes)
        }`,
      "handshake_failure",
    );
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
