/**
 * The TLS 1.2 client handshake (RFC 5246 7.3 with RFC 8422 ECDHE, RFC 7627 and RFC 5746),
 * taken over by ClientHandshake once a ServerHello chose TLS 1.2, one method per step:
 *
 * ```
 *  1. acceptServerHello   suite, required extensions (hello.ts); TLS 1.2 record rules
 *  2. readServerFlight                     <- Certificate  ServerKeyExchange
 *                                             [CertificateRequest]  ServerHelloDone
 *  3. sendClientFlight    [Certificate] ClientKeyExchange [CertificateVerify]
 *                         change_cipher_spec {Finished}  ->
 *  4. readServerFinished                   <- change_cipher_spec {Finished}
 * ```
 *
 * The token signs after the server's certificate chain and its signature over the key
 * exchange are verified; unlike TLS 1.3 the server's Finished comes after ours. No session is
 * resumed and none is offered; renegotiation is never performed (connection.ts declines a
 * HelloRequest).
 */

import type { CipherSuiteInfo } from "../../cipher_suites.ts";
import { bytesEqual } from "../../codec.ts";
import { TlsError, TlsPeerMisbehavedError } from "../../errors.ts";
import {
  decodeFinished,
  type HandshakeMessage,
  HandshakeType,
  handshakeTypeName,
  type ServerHello,
} from "../../messages/mod.ts";
import { VERIFY_DATA_LENGTH } from "../../prf.ts";
import type { RecordLayer } from "../../record/mod.ts";
import { withWithheldCertificate } from "../client_auth.ts";
import type { HandshakeConfig, HandshakeOutcome } from "../config.ts";
import type { OfferedHello } from "../hello.ts";
import { expectMessage } from "../server_flight.ts";
import type { Transcript } from "../transcript.ts";
import { sendTls12ClientFlight, type Tls12ClientFlightResult } from "./client_flight.ts";
import { checkTls12ServerHello } from "./hello.ts";
import { readTls12ServerFlight, type Tls12ServerFlight } from "./server_flight.ts";

/** What ClientHandshake hands over: its record reading, its transcript and what it sent. */
export interface Tls12Io {
  /** The next handshake message, or CHANGE_CIPHER_SPEC; alerts and the end become errors. */
  next(): Promise<HandshakeMessage | typeof CHANGE_CIPHER_SPEC>;
  /** What we are waiting for, for error messages ("while waiting for ServerHelloDone"). */
  step(description: string): void;
  /** Throws unless the last record ended a handshake message (no message spans a key change). */
  requireRecordBoundary(after: string): void;
  readonly transcript: Transcript;
}

export const CHANGE_CIPHER_SPEC = Symbol("change_cipher_spec");

/** HelloRequests ignored during the handshake before we call it a flood (RFC 5246 7.4.1.1). */
const MAX_HELLO_REQUESTS = 4;

export class Tls12Handshake {
  readonly #layer: RecordLayer;
  readonly #config: HandshakeConfig;
  readonly #io: Tls12Io;
  #helloRequests = 0;

  constructor(layer: RecordLayer, config: HandshakeConfig, io: Tls12Io) {
    this.#layer = layer;
    this.#config = config;
    this.#io = io;
  }

  async run(
    sh: ServerHello,
    shMessage: HandshakeMessage,
    sent: { clientRandom: Uint8Array; offered: OfferedHello },
  ): Promise<HandshakeOutcome> {
    const { suite, alpn } = this.#acceptServerHello(sh, shMessage, sent.offered);
    const randoms = { clientRandom: sent.clientRandom, serverRandom: sh.random };
    const flight = await this.#readServerFlight(suite, randoms);
    const client = await this.#sendClientFlight(suite, flight, randoms);
    try {
      await this.#readServerFinished(client);
    } catch (err) {
      // A TLS 1.2 server refuses our (empty) certificate before its Finished.
      throw err instanceof TlsError ? withWithheldCertificate(err, client.withheld) : err;
    }
    return {
      version: "TLSv1.2",
      suite,
      group: flight.keyExchange.group,
      hrr: false,
      alpn,
      chain: flight.chain,
      server: flight.server,
      serverScheme: flight.keyExchange.scheme,
      serverAuthMs: flight.serverAuthMs,
      clientCertificateRequested: flight.certificateRequest !== undefined,
      clientSignatureScheme: client.scheme,
      signatureMs: client.signatureMs,
      clientCertificateWithheld: client.withheld,
      secrets: undefined,
    };
  }

  /** Step 1: the ServerHello's checks, the transcript hash, the TLS 1.2 record rules. */
  #acceptServerHello(sh: ServerHello, message: HandshakeMessage, offered: OfferedHello) {
    const hello = checkTls12ServerHello(sh, offered, this.#config.alpn, this.#config.serverName);
    const t = this.#io.transcript;
    t.retainMessages(); // the ClientHello, for our CertificateVerify (7.4.8)
    t.selectHash(hello.suite.hash);
    t.add(message.raw);
    this.#layer.useTls12();
    return hello;
  }

  /** Step 2 (server_flight.ts). */
  #readServerFlight(
    suite: CipherSuiteInfo,
    randoms: { clientRandom: Uint8Array; serverRandom: Uint8Array },
  ): Promise<Tls12ServerFlight> {
    this.#io.step("during the server's TLS 1.2 flight");
    return readTls12ServerFlight(() => this.#nextMessage(), this.#io.transcript, this.#config, {
      suite,
      groups: this.#config.groups,
      ...randoms,
    });
  }

  /** Step 3 (client_flight.ts). */
  async #sendClientFlight(
    suite: CipherSuiteInfo,
    flight: Tls12ServerFlight,
    randoms: { clientRandom: Uint8Array; serverRandom: Uint8Array },
  ): Promise<Tls12ClientFlightResult> {
    // RFC 5246 7.4.5: ServerHelloDone ends the server's flight; nothing may follow it yet.
    this.#io.requireRecordBoundary("ServerHelloDone");
    const result = await sendTls12ClientFlight(this.#layer, {
      suite,
      transcript: this.#io.transcript,
      keyExchange: flight.keyExchange,
      request: flight.certificateRequest,
      clientAuth: this.#config.clientAuth,
      random: this.#config.random,
      ...randoms,
    });
    this.#config.keyLog?.(result.master.keyLogLine(randoms.clientRandom));
    return result;
  }

  /** Step 4: the server's change_cipher_spec switches its keys; its Finished must match. */
  async #readServerFinished(client: Tls12ClientFlightResult): Promise<void> {
    this.#io.step("while waiting for the server's change_cipher_spec and Finished");
    const ccs = await this.#next();
    if (ccs !== CHANGE_CIPHER_SPEC) {
      // A NewSessionTicket included: we sent no session_ticket extension (RFC 5077 3.3).
      throw new TlsPeerMisbehavedError(
        `Server sent ${handshakeTypeName(ccs.type)} where change_cipher_spec belongs`,
        "unexpected_message",
      );
    }
    this.#io.requireRecordBoundary("change_cipher_spec");
    this.#layer.setDecrypter(client.serverKeys);
    const m = expectMessage(await this.#nextMessage(), HandshakeType.finished, "Finished");
    const t = this.#io.transcript;
    const expected = client.master.serverFinished(t.digest());
    if (!bytesEqual(decodeFinished(m.body, VERIFY_DATA_LENGTH), expected)) {
      throw new TlsPeerMisbehavedError(
        "Server's Finished does not match the handshake: the handshake was tampered with " +
          "or the server is broken",
        "decrypt_error",
      );
    }
    t.add(m.raw);
    this.#io.requireRecordBoundary("Finished");
    this.#layer.forbidChangeCipherSpec();
  }

  /** The next message or change_cipher_spec; HelloRequests are ignored (RFC 5246 7.4.1.1). */
  async #next(): Promise<HandshakeMessage | typeof CHANGE_CIPHER_SPEC> {
    for (;;) {
      const got = await this.#io.next();
      if (got === CHANGE_CIPHER_SPEC || got.type !== HandshakeType.hello_request) return got;
      if (++this.#helloRequests > MAX_HELLO_REQUESTS) {
        throw new TlsPeerMisbehavedError(
          `Server sent more than ${MAX_HELLO_REQUESTS} HelloRequests during the handshake`,
          "unexpected_message",
        );
      }
    }
  }

  async #nextMessage(): Promise<HandshakeMessage> {
    const got = await this.#next();
    if (got === CHANGE_CIPHER_SPEC) {
      throw new TlsPeerMisbehavedError(
        "Server sent change_cipher_spec before its flight was complete",
        "unexpected_message",
      );
    }
    return got;
  }
}
