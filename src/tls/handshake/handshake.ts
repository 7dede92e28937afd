/**
 * The TLS 1.3 client handshake (RFC 8446 section 2 and 4), one method per flight:
 *
 * ```
 *  1. sendClientHello        ClientHello (x25519 share only)          ->
 *  2. readServerHello                                          <- ServerHello | HelloRetryRequest
 *     (TLS 1.2 chosen: tls12/ takes over, when TLS 1.2 was offered)
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

import { Alert } from "../alert.ts";
import type { CipherSuiteInfo } from "../cipher_suites.ts";
import { concatBytes } from "../codec.ts";
import { receivedAlertError, TlsPeerMisbehavedError } from "../errors.ts";
import type { HandshakeConfig, HandshakeOutcome } from "./config.ts";
import {
  checkServerHello,
  negotiatedVersion,
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
import { buildClientHello, retryClientHello } from "./client_hello_builder.ts";
import { readServerFlight, type ServerFlight } from "./server_flight.ts";
import { CCS_RECORD, sendClientFlight } from "./client_flight.ts";
import { RecordDecrypter, RecordEncrypter } from "../record/mod.ts";
import { Transcript } from "./transcript.ts";
import { CHANGE_CIPHER_SPEC, Tls12Handshake } from "./tls12/mod.ts";

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
    const first = await this.#readServerHello();
    const version = negotiatedVersion(
      first.hello,
      this.#config.allowTls12,
      this.#config.serverName,
    );
    if (version === "TLSv1.2") return await this.#continueWithTls12(first);
    const hello = await this.#afterAnyRetry(first);
    const keys = await this.#acceptServerHello(hello.hello, hello.message);
    const flight = await this.#readServerFlight(keys.serverSecret);
    const app = this.#startApplicationKeys(keys.handshakeSecret);
    const client = await this.#sendClientFlight(flight, keys.clientSecret, app.client);
    return {
      version,
      suite: keys.suite,
      group: keys.group,
      hrr: this.#retry !== undefined,
      alpn: flight.alpn,
      chain: flight.chain,
      server: flight.server,
      serverScheme: flight.serverScheme,
      serverAuthMs: flight.serverAuthMs,
      clientCertificateRequested: flight.certificateRequest !== undefined,
      clientSignatureScheme: client.scheme,
      signatureMs: client.signatureMs,
      clientCertificateWithheld: client.withheld,
      secrets: app,
    };
  }

  /** The server chose TLS 1.2: tls12/ runs the rest on our records and transcript. */
  #continueWithTls12(sh: { hello: ServerHello; message: HandshakeMessage }) {
    const io = {
      next: () => this.#nextItem(),
      step: (description: string) => this.#step = description,
      requireRecordBoundary: (after: string) => this.#requireRecordBoundary(after),
      transcript: this.#transcript,
    };
    return new Tls12Handshake(this.#layer, this.#config, io).run(sh.hello, sh.message, {
      clientRandom: this.#clientHello.random,
      offered: this.#offered,
    });
  }

  /** ServerHello, answering at most one HelloRetryRequest first (RFC 8446 4.1.4). */
  async #afterAnyRetry(
    first: { hello: ServerHello; message: HandshakeMessage },
  ): Promise<{ hello: ServerHello; message: HandshakeMessage }> {
    let sh = first;
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
    const suite = checkServerHello(hrr, this.#offered);
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
    const suite = checkServerHello(sh, this.#offered);
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
    const got = await this.#nextItem();
    if (got === CHANGE_CIPHER_SPEC) {
      // Only a TLS 1.2 record layer hands change_cipher_spec over; TLS 1.3 drops it.
      throw new TlsPeerMisbehavedError(
        `Server sent change_cipher_spec ${this.#step}`,
        "unexpected_message",
      );
    }
    return got;
  }

  /** The next handshake message or (TLS 1.2) change_cipher_spec. */
  async #nextItem(): Promise<HandshakeMessage | typeof CHANGE_CIPHER_SPEC> {
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
      } else if (record.type === ContentType.change_cipher_spec) {
        return CHANGE_CIPHER_SPEC;
      } else if (record.type === ContentType.alert) {
        throw receivedAlertError(record.content, this.#step, this.#alertHint(record.content));
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

  /** protocol_version during the handshake: say which versions we offered. */
  #alertHint(alert: Uint8Array): string | undefined {
    if (alert[1] !== Alert.protocol_version) return undefined;
    return this.#config.allowTls12
      ? "the server speaks neither TLS 1.3 nor TLS 1.2"
      : "the server does not speak TLS 1.3, and this connection allows TLS 1.3 only";
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
