/**
 * The server's TLS 1.2 flight (RFC 5246 7.3, 7.4.2 to 7.4.5; RFC 8422 5.4): Certificate,
 * ServerKeyExchange (ECDHE), an optional CertificateRequest, ServerHelloDone. The chain is
 * checked by the x509 module as in TLS 1.3, then the server's signature over both randoms and
 * its ECDHE parameters with the leaf's key: that signature is what authenticates the server
 * before our token signs anything.
 */

import type { CipherSuiteInfo } from "../../cipher_suites.ts";
import { TlsPeerMisbehavedError } from "../../errors.ts";
import {
  type CertificateRequest12,
  decodeCertificate12,
  decodeCertificateRequest12,
  decodeEmptyMessage,
  decodeServerKeyExchange,
  type HandshakeMessage,
  HandshakeType,
  type ServerKeyExchange,
  serverKeyExchangeContent,
} from "../../messages/mod.ts";
import { groupName } from "../key_share.ts";
import { checkServerCertificate, type VerifiedServer } from "../server_auth.ts";
import { expectMessage, type FlightConfig } from "../server_flight.ts";
import { verifyTls12ServerSignature } from "../signature.ts";
import type { Transcript } from "../transcript.ts";

export interface Tls12ServerFlight {
  /** DER, leaf first, as the server sent it. */
  readonly chain: Uint8Array[];
  readonly server: VerifiedServer;
  readonly keyExchange: ServerKeyExchange;
  readonly certificateRequest: CertificateRequest12 | undefined;
  /** Time spent verifying the chain and the ServerKeyExchange signature. */
  readonly serverAuthMs: number;
}

export interface Tls12FlightInput {
  readonly suite: CipherSuiteInfo;
  readonly groups: readonly number[];
  readonly clientRandom: Uint8Array;
  readonly serverRandom: Uint8Array;
}

/** Reads and checks the server's flight, through ServerHelloDone. */
export async function readTls12ServerFlight(
  next: () => Promise<HandshakeMessage>,
  transcript: Transcript,
  config: FlightConfig,
  input: Tls12FlightInput,
): Promise<Tls12ServerFlight> {
  // 1. Certificate (7.4.2), checked by the x509 module. A server resuming a session would send
  //    change_cipher_spec here instead; we offered no session to resume.
  let m = expectMessage(await next(), HandshakeType.certificate, "Certificate");
  const started = performance.now();
  const { chain, server } = await checkServerCertificate(
    decodeCertificate12(m.body),
    config.verifyChain,
    { serverName: config.serverName, trustStore: config.trustStore, now: config.now },
  );
  transcript.add(m.raw);
  // 2. ServerKeyExchange (RFC 8422 5.4): a group we offered, signed by the leaf's key.
  m = expectMessage(await next(), HandshakeType.server_key_exchange, "ServerKeyExchange");
  const keyExchange = decodeServerKeyExchange(m.body);
  if (!input.groups.includes(keyExchange.group)) {
    throw new TlsPeerMisbehavedError(
      `Server chose ECDHE group ${groupName(keyExchange.group)}, which we did not offer`,
      "illegal_parameter",
    );
  }
  await verifyTls12ServerSignature(
    keyExchange.scheme,
    input.suite.auth!,
    server.leafSpki,
    serverKeyExchangeContent(input.clientRandom, input.serverRandom, keyExchange.params),
    keyExchange.signature,
  );
  transcript.add(m.raw);
  const serverAuthMs = performance.now() - started;
  // 3. CertificateRequest, optional (7.4.4).
  m = await next();
  let certificateRequest: CertificateRequest12 | undefined;
  if (m.type === HandshakeType.certificate_request) {
    certificateRequest = decodeCertificateRequest12(m.body);
    transcript.add(m.raw);
    m = await next();
  }
  // 4. ServerHelloDone (7.4.5).
  expectMessage(m, HandshakeType.server_hello_done, "ServerHelloDone");
  decodeEmptyMessage(m.body, "ServerHelloDone");
  transcript.add(m.raw);
  return { chain, server, keyExchange, certificateRequest, serverAuthMs };
}
