/**
 * The TLS 1.3 client handshake (RFC 8446 section 2 and 4), one method per flight:
 *
 * ```
 *  1. sendClientHello        ClientHello (x25519 share only)          ->
 *  2. readServerHello                                          <- ServerHello | HelloRetryRequest
 *     (retry)                [CCS] ClientHello2 (new share, cookie)   ->
 *                                                              <- ServerHello
 *  3. acceptServerHello      handshake keys; CCS tolerated until server Finished
 *  4. readServerFlight                               <- {EncryptedExtensions}
 *                                                    <- {CertificateRequest}?
 *                                                    <- {Certificate} {CertificateVerify}
 *                                                    <- {Finished}
 *  5. sendClientFlight       [CCS] {Certificate {CertificateVerify}} {Finished} ->
 * ```
 *
 * The token signs only after the server has been fully authenticated (its Finished checked).
 */

import type { TrustStore } from "../../x509/mod.ts";
import type { CipherSuiteInfo } from "../cipher_suites.ts";
import { concatBytes } from "../codec.ts";
import { receivedAlertError, TlsPeerMisbehavedError } from "../errors.ts";
import {
  checkServerHello,
  type OfferedHello,
  parseRetryRequest,
  type RetryRequest,
} from "./hello.ts";
import { serverKeyShare } from "./hello.ts";
import {
  type ApplicationTrafficSecret,
  EarlySecret,
  type HandshakeSecret,
  type HandshakeTrafficSecret,
} from "../key_schedule.ts";
import { KeyShare } from "./key_share.ts";
import {
  type ClientHello,
  decodeServerHello,
  encodeClientHello,
  type HandshakeMessage,
  HandshakeReassembler,
  HandshakeType,
  handshakeTypeName,
  isHelloRetryRequest,
  type ServerHello,
} from "../messages/mod.ts";
import { ContentType } from "../record/mod.ts";
import type { RecordLayer } from "../record/mod.ts";
import type { RandomSource } from "../random.ts";
import type { ChainVerifier } from "./server_auth.ts";
import { buildClientHello, retryClientHello } from "./client_hello_builder.ts";
import type { ClientAuth } from "./client_auth.ts";
import { readServerFlight, type ServerFlight } from "./server_flight.ts";
import { CCS_RECORD, sendClientFlight } from "./client_flight.ts";
import { RecordDecrypter, RecordEncrypter } from "../record/mod.ts";
import { Transcript } from "./transcript.ts";

/** Everything the handshake needs, resolved from TlsClientOptions. */
export interface HandshakeConfig {
  /** Name checked against the certificate (DNS name or IP literal). */
  readonly serverName: string;
  /** The SNI host name; undefined for IP literals. */
  readonly sni: string | undefined;
  readonly trustStore: TrustStore;
  readonly clientAuth: ClientAuth | undefined;
  readonly alpn: readonly string[] | undefined;
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
  readonly random: RandomSource;
  readonly verifyChain: ChainVerifier;
  readonly now: Date | undefined;
  /** Test hook: rewrite a ClientHello before it is sent (to replay RFC 8448 traces). */
  readonly shapeClientHello?: (ch: ClientHello, index: 1 | 2) => ClientHello;
}

/** What the handshake produced: negotiated parameters and the application secrets. */
export interface HandshakeOutcome {
  readonly suite: CipherSuiteInfo;
  readonly group: number;
  readonly hrr: boolean;
  readonly flight: ServerFlight;
  readonly clientSignatureScheme: number | undefined;
  readonly signatureMs: number | undefined;
  /** Why our key could not answer the CertificateRequest (an empty Certificate went out). */
  readonly clientCertificateWithheld: string | undefined;
  readonly clientSecret: ApplicationTrafficSecret;
  readonly serverSecret: ApplicationTrafficSecret;
}

export class ClientHandshake {
  readonly #layer: RecordLayer;
  readonly #config: HandshakeConfig;
  readonly #messages = new HandshakeReassembler();
  readonly #transcript = new Transcript();
  #step = "while waiting for ServerHello";
  #offered!: OfferedHello;
  #clientHello!: ClientHello;
  #shares: KeyShare[] = [];
  #retry: RetryRequest | undefined;
  #ccsSent = false;

  constructor(layer: RecordLayer, config: HandshakeConfig) {
    this.#layer = layer;
    this.#config = config;
  }

  /** The handshake, step by step; each step is one flight or one change of keys. */
  async run(): Promise<HandshakeOutcome> {
    await this.#sendClientHello();
    const hello = await this.#readServerHelloAfterAnyRetry();
    const keys = await this.#acceptServerHello(hello.hello, hello.message);
    const flight = await this.#readServerFlight(keys.serverSecret);
    const app = this.#startApplicationKeys(keys.handshakeSecret);
    const client = await this.#sendClientFlight(flight, keys.clientSecret, app.client);
    return {
      suite: keys.suite,
      group: keys.group,
      hrr: this.#retry !== undefined,
      flight,
      clientSignatureScheme: client.scheme,
      signatureMs: client.signatureMs,
      clientCertificateWithheld: client.withheld,
      clientSecret: app.client,
      serverSecret: app.server,
    };
  }

  /** ServerHello, answering at most one HelloRetryRequest first (RFC 8446 4.1.4). */
  async #readServerHelloAfterAnyRetry(): Promise<
    { hello: ServerHello; message: HandshakeMessage }
  > {
    let sh = await this.#readServerHello();
    if (isHelloRetryRequest(sh.hello)) {
      await this.#retryWith(sh.hello, sh.message);
      sh = await this.#readServerHello();
      if (isHelloRetryRequest(sh.hello)) {
        throw new TlsPeerMisbehavedError(
          "Server sent a second HelloRetryRequest",
          "unexpected_message",
        );
      }
    }
    return sh;
  }

  /** EncryptedExtensions .. Finished, all checked (server_flight.ts). */
  #readServerFlight(serverSecret: HandshakeTrafficSecret): Promise<ServerFlight> {
    this.#step = "during the server's encrypted handshake";
    return readServerFlight(
      { next: () => this.#nextMessage(), transcript: this.#transcript },
      this.#config,
      this.#offered,
      serverSecret,
    );
  }

  /** Application traffic secrets; the server's take effect for reading at once (7.1). */
  #startApplicationKeys(handshakeSecret: HandshakeSecret) {
    // RFC 8446 5.1: no handshake message may span the switch to application keys.
    this.#requireRecordBoundary("Finished");
    this.#layer.forbidChangeCipherSpec();
    const master = handshakeSecret.masterSecret();
    const app = master.applicationTrafficSecrets(this.#transcript.digest());
    this.#layer.setDecrypter(RecordDecrypter.create(app.server));
    return app;
  }

  /** Our Certificate/CertificateVerify if asked, and Finished (client_flight.ts). */
  #sendClientFlight(
    flight: ServerFlight,
    handshakeSecret: HandshakeTrafficSecret,
    applicationSecret: ApplicationTrafficSecret,
  ) {
    return sendClientFlight(this.#layer, {
      transcript: this.#transcript,
      request: flight.certificateRequest,
      clientAuth: this.#config.clientAuth,
      handshakeSecret,
      applicationSecret,
      sendCcs: this.#compatibilityMode && !this.#ccsSent,
    });
  }

  /** Middlebox compatibility mode (RFC 8446 D.4) goes with a non-empty legacy_session_id. */
  get #compatibilityMode(): boolean {
    return this.#clientHello.legacySessionId.length > 0;
  }

  /** Flight 1: ClientHello with one key share, for the first group (x25519 by default). */
  async #sendClientHello(): Promise<void> {
    const { random, groups } = this.#config;
    const clientRandom = random.bytes(32);
    const sessionId = random.bytes(32);
    this.#shares = [await KeyShare.generate(groups[0], random)];
    let ch = buildClientHello(this.#config, clientRandom, sessionId, this.#shares);
    if (this.#config.shapeClientHello) ch = this.#config.shapeClientHello(ch, 1);
    this.#clientHello = ch;
    this.#offered = {
      legacySessionId: ch.legacySessionId,
      cipherSuites: ch.cipherSuites,
      extensionTypes: new Set(ch.extensions.map((e) => e.type)),
    };
    const message = encodeClientHello(ch);
    this.#transcript.add(message);
    // RFC 8446 5.1: an initial ClientHello may use record version 0x0301 for old middleboxes.
    await this.#layer.enqueueWrite(async () => {
      await this.#layer.writeBytes(
        this.#layer.encodeRecords(ContentType.handshake, message, 0x0301),
      );
    });
  }

  async #readServerHello(): Promise<{ hello: ServerHello; message: HandshakeMessage }> {
    this.#step = this.#retry
      ? "while waiting for ServerHello after our second ClientHello"
      : "while waiting for ServerHello";
    const message = await this.#nextMessage();
    this.#expect(message, HandshakeType.server_hello);
    const hello = decodeServerHello(message.body);
    return { hello, message };
  }

  /** HelloRetryRequest (RFC 8446 4.1.4): new key share and/or cookie, transcript rewritten. */
  async #retryWith(hrr: ServerHello, message: HandshakeMessage): Promise<void> {
    const suite = checkServerHello(hrr, this.#offered, this.#config.serverName);
    const retry = parseRetryRequest(
      hrr,
      suite,
      this.#config.groups,
      this.#shares.map((s) => s.group),
    );
    this.#retry = retry;
    this.#requireRecordBoundary("HelloRetryRequest");
    // RFC 8446 4.4.1: ClientHello1 becomes message_hash, then the HRR itself.
    this.#transcript.replaceWithMessageHash(suite.hash);
    this.#transcript.add(message.raw);
    if (retry.selectedGroup !== undefined) {
      this.#shares = [await KeyShare.generate(retry.selectedGroup, this.#config.random)];
    }
    let ch = retryClientHello(this.#clientHello, this.#shares, retry.cookie);
    if (this.#config.shapeClientHello) ch = this.#config.shapeClientHello(ch, 2);
    const ch2 = encodeClientHello(ch);
    this.#transcript.add(ch2);
    const sendCcs = this.#compatibilityMode;
    this.#ccsSent = sendCcs;
    await this.#layer.enqueueWrite(async () => {
      const records = this.#layer.encodeRecords(ContentType.handshake, ch2);
      // RFC 8446 D.4: the dummy change_cipher_spec goes right before the second ClientHello.
      await this.#layer.writeBytes(sendCcs ? concatBytes(CCS_RECORD, records) : records);
    });
  }

  /** Handshake keys from the ServerHello's key share (RFC 8446 7.1). */
  async #acceptServerHello(sh: ServerHello, message: HandshakeMessage): Promise<{
    suite: CipherSuiteInfo;
    group: number;
    handshakeSecret: HandshakeSecret;
    clientSecret: HandshakeTrafficSecret;
    serverSecret: HandshakeTrafficSecret;
  }> {
    const suite = checkServerHello(sh, this.#offered, this.#config.serverName);
    const entry = serverKeyShare(sh, suite, this.#shares.map((s) => s.group), this.#retry);
    const share = this.#shares.find((s) => s.group === entry.group)!;
    const shared = await share.sharedSecret(entry.keyExchange);
    this.#transcript.selectHash(suite.hash);
    this.#transcript.add(message.raw);
    const handshakeSecret = EarlySecret.create(suite).handshakeSecret(shared);
    const secrets = handshakeSecret.trafficSecrets(this.#transcript.digest());
    this.#requireRecordBoundary("ServerHello");
    this.#layer.setDecrypter(RecordDecrypter.create(secrets.server));
    // From here on the server reads only protected records, our alerts included (RFC 8446 5).
    const encrypter = RecordEncrypter.create(secrets.client);
    await this.#layer.enqueueWrite(() => Promise.resolve(this.#layer.setEncrypter(encrypter)));
    return {
      suite,
      group: entry.group,
      handshakeSecret,
      clientSecret: secrets.client,
      serverSecret: secrets.server,
    };
  }

  /** The next handshake message, reading records as needed; alerts become errors. */
  async #nextMessage(): Promise<HandshakeMessage> {
    for (;;) {
      const m = this.#messages.next();
      if (m) return m;
      const record = await this.#layer.read();
      if (record === null) {
        throw new TlsPeerMisbehavedError(
          `Server closed the connection ${this.#step}`,
          "unexpected_message",
        );
      }
      if (record.type === ContentType.handshake) {
        this.#messages.push(record.content);
      } else if (record.type === ContentType.alert) {
        throw receivedAlertError(record.content, this.#step);
      } else {
        // RFC 8446 5.1: no application data before the handshake is done, an empty record
        // included (it would otherwise slip in between the fragments of a message).
        const what = record.content.length
          ? "application data"
          : "an empty application_data record";
        throw new TlsPeerMisbehavedError(`Server sent ${what} ${this.#step}`, "unexpected_message");
      }
    }
  }

  #expect(m: HandshakeMessage, type: number): void {
    if (m.type !== type) {
      throw new TlsPeerMisbehavedError(
        `Server sent ${handshakeTypeName(m.type)} ${this.#step}`,
        "unexpected_message",
      );
    }
  }

  /** RFC 8446 5.1: handshake messages must not span a key change. */
  #requireRecordBoundary(after: string): void {
    if (this.#messages.hasPartial) {
      throw new TlsPeerMisbehavedError(
        `Server sent more handshake data in the record that ended its ${after}`,
        "unexpected_message",
      );
    }
  }
}
