/**
 * The server's encrypted flight (RFC 8446 section 4.3 and 4.4): EncryptedExtensions, an
 * optional CertificateRequest, Certificate, CertificateVerify, Finished. Each message is checked
 * and added to the transcript in order.
 */

import type { TrustStore } from "../../x509/mod.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import { checkExtensionsAllowed, chosenAlpn, type OfferedHello } from "./hello.ts";
import type { HandshakeTrafficSecret } from "../key_schedule.ts";
import {
  type CertificateRequest,
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
  decodeEncryptedExtensions,
  decodeFinished,
  type Extension,
  ExtensionType,
  findExtension,
  type HandshakeMessage,
  HandshakeType,
  handshakeTypeName,
} from "../messages/mod.ts";
import {
  type ChainVerifier,
  checkServerCertificate,
  checkServerCertificateVerify,
  checkServerFinished,
  type VerifiedServer,
} from "./server_auth.ts";
import { SIGNATURE_SCHEMES } from "./signature.ts";
import type { Transcript } from "./transcript.ts";

export interface ServerFlight {
  readonly alpn: string | undefined;
  readonly certificateRequest: CertificateRequest | undefined;
  /** DER, leaf first, as the server sent it. */
  readonly chain: Uint8Array[];
  readonly server: VerifiedServer;
  readonly serverScheme: number;
  /** Time spent verifying the chain and the CertificateVerify. */
  readonly serverAuthMs: number;
}

export interface FlightIo {
  next(): Promise<HandshakeMessage>;
  readonly transcript: Transcript;
}

export interface FlightConfig {
  readonly serverName: string;
  readonly trustStore: TrustStore;
  readonly alpn: readonly string[] | undefined;
  readonly verifyChain: ChainVerifier;
  readonly now: Date | undefined;
}

/** Reads and checks the server's encrypted flight, through its Finished. */
export async function readServerFlight(
  io: FlightIo,
  config: FlightConfig,
  offered: OfferedHello,
  serverSecret: HandshakeTrafficSecret,
): Promise<ServerFlight> {
  const t = io.transcript;
  // 1. EncryptedExtensions (4.3.1).
  let m = expectMessage(await io.next(), HandshakeType.encrypted_extensions, "EncryptedExtensions");
  const alpn = encryptedExtensions(m, config, offered);
  t.add(m.raw);
  // 2. CertificateRequest, optional (4.3.2); its context must be empty during the handshake.
  m = await io.next();
  let certificateRequest: CertificateRequest | undefined;
  if (m.type === HandshakeType.certificate_request) {
    certificateRequest = decodeCertificateRequest(m.body);
    if (certificateRequest.context.length !== 0) {
      throw new TlsPeerMisbehavedError(
        "Server sent a CertificateRequest with a non-empty context during the handshake",
        "illegal_parameter",
      );
    }
    t.add(m.raw);
    m = await io.next();
  }
  // 3. Certificate (4.4.2), checked by the x509 module.
  expectMessage(m, HandshakeType.certificate, "Certificate");
  const started = performance.now();
  const { chain, server } = await checkServerCertificate(
    decodeCertificate(m.body),
    config.verifyChain,
    {
      serverName: config.serverName,
      trustStore: config.trustStore,
      now: config.now,
    },
  );
  t.add(m.raw);
  // 4. CertificateVerify (4.4.3) over the transcript through Certificate.
  m = expectMessage(await io.next(), HandshakeType.certificate_verify, "CertificateVerify");
  const cv = decodeCertificateVerify(m.body);
  await checkServerCertificateVerify(cv, SIGNATURE_SCHEMES, server, t.digest());
  t.add(m.raw);
  const serverAuthMs = performance.now() - started;
  // 5. Finished (4.4.4) over the transcript through CertificateVerify.
  m = expectMessage(await io.next(), HandshakeType.finished, "Finished");
  checkServerFinished(
    decodeFinished(m.body, serverSecret.suite.hashLength),
    serverSecret,
    t.digest(),
  );
  t.add(m.raw);
  return { alpn, certificateRequest, chain, server, serverScheme: cv.scheme, serverAuthMs };
}

/** Checks EncryptedExtensions; returns the ALPN protocol the server chose, if any. */
function encryptedExtensions(
  m: HandshakeMessage,
  config: FlightConfig,
  offered: OfferedHello,
): string | undefined {
  const ee = decodeEncryptedExtensions(m.body);
  checkExtensionsAllowed(
    ee.extensions,
    // RFC 8446 4.2 lists these for EncryptedExtensions. Those we never offer (all but the
    // first three) are refused as unsolicited by checkExtensionsAllowed; they are listed so
    // the check follows the RFC's table, not our current offer.
    [
      ExtensionType.server_name,
      ExtensionType.supported_groups,
      ExtensionType.application_layer_protocol_negotiation,
      ExtensionType.max_fragment_length,
      ExtensionType.use_srtp,
      ExtensionType.heartbeat,
      ExtensionType.client_certificate_type,
      ExtensionType.server_certificate_type,
      ExtensionType.early_data,
      ExtensionType.record_size_limit,
    ],
    offered.extensionTypes,
    "EncryptedExtensions",
  );
  checkServerNameEcho(ee.extensions, "EncryptedExtensions");
  return chosenAlpn(ee.extensions, config.alpn);
}

/** RFC 6066 3: the server's server_name extension, when it sends one, is empty. */
export function checkServerNameEcho(extensions: readonly Extension[], message: string): void {
  const sni = findExtension(extensions, ExtensionType.server_name);
  if (sni && sni.data.length !== 0) {
    throw new TlsPeerMisbehavedError(
      `Server sent a non-empty server_name in ${message}`,
      "decode_error",
    );
  }
}

/** `m` if it is of `type`, else unexpected_message naming both. */
export function expectMessage(m: HandshakeMessage, type: number, what: string): HandshakeMessage {
  if (m.type !== type) {
    throw new TlsPeerMisbehavedError(
      `Server sent ${handshakeTypeName(m.type)} where ${what} belongs`,
      "unexpected_message",
    );
  }
  return m;
}
