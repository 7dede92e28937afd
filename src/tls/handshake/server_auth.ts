/**
 * Server authentication (RFC 8446 section 4.4.2 to 4.4.4): the server's Certificate is checked by
 * the x509 module (chain to the trust store, dates, usages, server name), then its
 * CertificateVerify with the leaf's key, then its Finished.
 */

import { schemeName } from "../../keys/mod.ts";
import { CertificateError, type TrustStore, verifyServerChain } from "../../x509/mod.ts";
import { isAlertName } from "../alert.ts";
import { bytesEqual } from "../codec.ts";
import {
  TlsCertificateError,
  TlsDecodeError,
  TlsLocalError,
  TlsPeerMisbehavedError,
} from "../errors.ts";
import type { HandshakeTrafficSecret } from "../key_schedule.ts";
import { type CertificateMessage, extensionName } from "../messages/mod.ts";
import { messageOf } from "../errors.ts";
import { certificateVerifyContent, SERVER_CONTEXT, verifyServerSignature } from "./signature.ts";

/** What chain verification gives back: the leaf's key and a name for messages. */
export interface VerifiedServer {
  readonly leafSpki: Uint8Array;
  readonly subject: string;
}

/** Checks a server chain; the default is the x509 module. Tests may substitute their own. */
export type ChainVerifier = (opts: {
  chain: Uint8Array[];
  serverName: string;
  trustStore: TrustStore;
  now?: Date;
}) => Promise<VerifiedServer>;

export const x509ChainVerifier: ChainVerifier = async (opts) => {
  const v = await verifyServerChain(opts);
  return { leafSpki: v.leafSpki, subject: v.leaf.subject };
};

/**
 * Checks the Certificate message's shape (RFC 8446 4.4.2) and runs chain verification.
 * Returns the chain (DER, copied) and the verified leaf.
 */
export async function checkServerCertificate(
  msg: CertificateMessage,
  verify: ChainVerifier,
  opts: { serverName: string; trustStore: TrustStore; now?: Date },
): Promise<{ chain: Uint8Array[]; server: VerifiedServer }> {
  if (msg.context.length !== 0) {
    throw new TlsPeerMisbehavedError(
      "Server sent a Certificate with a non-empty certificate_request_context",
      "illegal_parameter",
    );
  }
  if (msg.entries.length === 0) {
    // RFC 8446 4.4.2.4: an empty server Certificate is a decode_error.
    throw new TlsDecodeError("Server sent an empty Certificate message");
  }
  for (const e of msg.entries) {
    // We request neither OCSP stapling nor SCTs, so no entry extension is allowed (4.4.2).
    if (e.extensions.length > 0) {
      throw new TlsPeerMisbehavedError(
        `Server sent ${extensionName(e.extensions[0].type)} in a CertificateEntry unasked`,
        "unsupported_extension",
      );
    }
  }
  const chain = msg.entries.map((e) => e.certData.slice());
  try {
    const server = await verify({ chain, ...opts });
    return { chain, server };
  } catch (err) {
    if (err instanceof CertificateError) {
      const alert = isAlertName(err.alert) ? err.alert : "bad_certificate";
      throw new TlsCertificateError(
        `Server certificate rejected: ${err.message}`,
        alert,
        { subject: err.subject || undefined, reason: err.reason },
        { cause: err },
      );
    }
    throw new TlsLocalError(
      `Cannot verify the server certificate: ${messageOf(err)}`,
      "internal_error",
      { cause: err },
    );
  }
}

/** Verifies the server's CertificateVerify over the transcript hash through Certificate. */
export async function checkServerCertificateVerify(
  cv: { scheme: number; signature: Uint8Array },
  offered: readonly number[],
  server: VerifiedServer,
  transcriptHash: Uint8Array,
): Promise<void> {
  if (!offered.includes(cv.scheme)) {
    throw new TlsPeerMisbehavedError(
      `Server signed its CertificateVerify with ${schemeName(cv.scheme)}, which we did not offer`,
      "illegal_parameter",
    );
  }
  const content = certificateVerifyContent(SERVER_CONTEXT, transcriptHash);
  await verifyServerSignature(cv.scheme, server.leafSpki, content, cv.signature);
}

/** Verifies the server's Finished over the transcript hash through CertificateVerify (4.4.4). */
export function checkServerFinished(
  verifyData: Uint8Array,
  serverSecret: HandshakeTrafficSecret,
  transcriptHash: Uint8Array,
): void {
  const expected = serverSecret.finishedVerifyData(transcriptHash);
  if (!bytesEqual(expected, verifyData)) {
    throw new TlsPeerMisbehavedError(
      "Server's Finished does not match the handshake: the handshake was tampered with " +
        "or the server is broken",
      "decrypt_error",
    );
  }
}
