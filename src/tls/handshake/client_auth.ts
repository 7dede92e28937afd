/**
 * Client authentication (RFC 8446 section 4.4.2 and 4.4.3) in answer to a CertificateRequest:
 * our Certificate, then a CertificateVerify signed by the key provider's Signer. The signer
 * receives the unhashed content and returns the wire signature; TLS never sees key material.
 * Without a configured key, or with one that can make none of the signature schemes the server
 * asks for, we send an empty Certificate and no CertificateVerify (4.4.2: "If the server
 * requests client authentication but no suitable certificate is available, the client MUST
 * send a Certificate message containing no certificates"; RFC 5246 7.4.6 says the same): a
 * server for which the certificate is optional goes on; one that requires it refuses with an
 * alert (TLS 1.3: after our Finished; TLS 1.2: before its own), and that error then says why we
 * sent none (`withheld`, `withWithheldCertificate`).
 *
 * The TLS 1.2 handshake (tls12/) uses the parts: `chooseSigner` with the schemes TLS 1.2 allows
 * (RSA PKCS#1 v1.5 included, RFC 5246 7.4.8), and `signCertificateVerify` over its own
 * content, after its ClientKeyExchange.
 */

import { schemeInfo, schemeName, type Signer, type SigningKey } from "../../keys/mod.ts";
import { getLogger } from "../../log.ts";
import { TlsAlertReceivedError, type TlsError, TlsLocalError } from "../errors.ts";
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
export function allowedInTls13(code: number): boolean {
  const info = schemeInfo(code);
  return info !== undefined && info.algorithm !== "rsa-pkcs1";
}

/**
 * Schemes allowed in a TLS 1.2 CertificateVerify: every one we know, RSA PKCS#1 v1.5 included
 * (RFC 5246 7.4.8); SHA-1 and MD5 ones are not in our table, so never chosen.
 */
export function allowedInTls12(code: number): boolean {
  return schemeInfo(code) !== undefined;
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
  const chosen = chooseSigner(request.signatureAlgorithms, auth, allowedInTls13);
  if ("withheld" in chosen) return { ...empty(), withheld: chosen.withheld };
  const { signer } = chosen;
  const certificate = encodeCertificate(request.context, auth.certificateChain);
  transcript.add(certificate);
  const content = certificateVerifyContent(CLIENT_CONTEXT, transcript.digest());
  const verify = await signCertificateVerify(signer, auth, content);
  transcript.add(verify.message);
  return {
    messages: [certificate, verify.message],
    scheme: signer.scheme,
    signatureMs: verify.signatureMs,
  };
}

/**
 * The key's preferred scheme among those the server offered and the version allows, as the
 * key's Signer; or, when there is none, why (both lists), logged: an empty Certificate goes out.
 */
export function chooseSigner(
  serverOffers: readonly number[],
  auth: ClientAuth,
  allowed: (scheme: number) => boolean,
): { signer: Signer } | { withheld: string } {
  const offered = serverOffers.filter(allowed);
  const signer = auth.key.chooseScheme(offered);
  if (!signer) {
    const withheld = `the server accepts no signature scheme that ${auth.key.description} ` +
      `can produce: server offers ${names(serverOffers)}; key supports ${
        names(auth.key.schemes.filter(allowed))
      }`;
    // Info, not a warning: a server that requires the certificate turns this into the error.
    log.info(`Sending no client certificate: ${withheld}`);
    return { withheld };
  }
  if (!offered.includes(signer.scheme)) {
    throw new TlsLocalError(
      `Key "${auth.key.description}" chose ${
        schemeName(signer.scheme)
      }, which the server did not offer`,
      "internal_error",
    );
  }
  return { signer };
}

/** Has `signer` sign `content` (unhashed) and returns the CertificateVerify message. */
export async function signCertificateVerify(
  signer: Signer,
  auth: ClientAuth,
  content: Uint8Array,
): Promise<{ message: Uint8Array; signatureMs: number }> {
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
  const message = encodeCertificateVerify({
    scheme: signer.scheme,
    signature: new Uint8Array(signature),
  });
  return { message, signatureMs };
}

/**
 * A server's refusal after an empty Certificate that our key could not avoid: the error says
 * why we sent none, with both scheme lists.
 */
export function withWithheldCertificate(err: TlsError, withheld: string | undefined): TlsError {
  if (!withheld || !(err instanceof TlsAlertReceivedError)) return err;
  return new TlsAlertReceivedError(
    `${err.message}; we sent no client certificate because ${withheld}`,
    err.alertCode,
  );
}

function names(codes: readonly number[]): string {
  return codes.length ? codes.map(schemeName).join(", ") : "(none)";
}
