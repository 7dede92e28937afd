/**
 * Test-only: a small TLS 1.3 server built from this module's own pieces, over an in-memory pipe,
 * with hooks to misbehave. It exists to drive the client through refusal paths that real
 * servers never take; crypto correctness is covered by the RFC 8448 replays and interop tests.
 */

import { alertName } from "../alert.ts";
import { cipherSuiteInfo } from "../cipher_suites.ts";
import { concatBytes, Reader } from "../codec.ts";
import { ecdsaRawToDer } from "../../keys/mod.ts";
import {
  type ApplicationTrafficSecret,
  EarlySecret,
  type HandshakeTrafficSecret,
} from "../key_schedule.ts";
import { KeyShare } from "../handshake/mod.ts";
import {
  type ClientHello,
  decodeCertificate,
  decodeCertificateVerify,
  decodeClientHello,
  encodeCertificateEntries,
  encodeCertificateRequest,
  encodeCertificateVerify,
  encodeEncryptedExtensions,
  encodeFinished,
  encodeKeyUpdate,
  encodeServerHello,
  type Extension,
  extension,
  ExtensionType,
  findExtension,
  type HandshakeMessage,
  HandshakeReassembler,
  HELLO_RETRY_REQUEST_RANDOM,
  type ServerHello,
} from "../messages/mod.ts";
import { ContentType, encodePlaintextRecord, RecordReader } from "../record/mod.ts";
import { RecordDecrypter, RecordEncrypter } from "../record/mod.ts";
import {
  certificateVerifyContent,
  CLIENT_CONTEXT,
  SERVER_CONTEXT,
  verifyServerSignature as verifyClientSignature,
} from "../handshake/mod.ts";
import { systemRandom } from "../random.ts";
import { FAKE_CERTIFICATE, SERVER_KEYS } from "./fake_server_identity.ts";
import { Transcript } from "../handshake/mod.ts";
import type { PipeEnd } from "./test_transport.ts";

export { FAKE_CERTIFICATE, fakeClientConfig, SERVER_SPKI } from "./fake_server_identity.ts";

export interface FakeServerOptions {
  suite?: number;
  /** Groups the server accepts, preferred first; a client share for none of them gets an HRR. */
  groups?: number[];
  cookie?: Uint8Array;
  certificateRequest?: boolean;
  alpn?: string;
  /** Send a dummy change_cipher_spec after the ServerHello (middlebox compatibility). */
  ccsAfterHello?: boolean;
  tamper?: {
    serverHello?(sh: ServerHello): ServerHello;
    helloRetryRequest?(hrr: ServerHello): ServerHello;
    /** Answer the second ClientHello with another HelloRetryRequest. */
    secondHrr?: boolean;
    eeExtensions?: Extension[];
    /** Rewrite the encrypted flight (whole messages) before it is sent. */
    flight?(messages: Uint8Array[]): Uint8Array[];
    cvScheme?: number;
    corruptSignature?: boolean;
    corruptFinished?: boolean;
    /** Split the encrypted flight's bytes into records of this size. */
    recordSize?: number;
    /** Rewrite the encrypted flight's records (type and content) before they are sealed. */
    records?(records: { type: number; content: Uint8Array }[]): {
      type: number;
      content: Uint8Array;
    }[];
    /** Raw bytes sent right after the ServerHello record. */
    afterServerHello?: Uint8Array;
    /** Extra handshake bytes inside the ServerHello's own record. */
    serverHelloRecordExtra?: Uint8Array;
  };
}

/** What a FakeServer saw from the client. */
export interface FakeServerResult {
  clientHellos: ClientHello[];
  /** Alert received from the client, if any (by name). */
  alert?: string;
  /** KeyUpdates received from the client after the handshake. */
  keyUpdates?: number;
  /** The client's Certificate entries and CertificateVerify scheme, when it sent them. */
  clientCertificates?: Uint8Array[];
  clientScheme?: number;
}

export class FakeServer {
  readonly result: FakeServerResult = { clientHellos: [] };
  readonly #t: PipeEnd;
  readonly #o: FakeServerOptions;
  readonly #reader: RecordReader;
  readonly #messages = new HandshakeReassembler();
  readonly #transcript = new Transcript();
  #in: RecordDecrypter | undefined;
  #out: RecordEncrypter | undefined;
  #serverApp: ApplicationTrafficSecret | undefined;
  #clientApp: ApplicationTrafficSecret | undefined;

  constructor(transport: PipeEnd, options: FakeServerOptions = {}) {
    this.#t = transport;
    this.#o = options;
    this.#reader = new RecordReader(transport, 5_000);
  }

  #running: Promise<void> | undefined;

  /** The full handshake; resolves after the client's Finished was verified. */
  handshake(): Promise<void> {
    this.#running ??= this.#handshake();
    return this.#running;
  }

  async #handshake(): Promise<void> {
    const suite = cipherSuiteInfo(this.#o.suite ?? 0x1301)!;
    const groups = this.#o.groups ?? [0x001d];
    let ch = await this.#readClientHello();
    let share = clientShare(ch, groups);
    if (!share) {
      await this.#sendHrr(ch, suite.code, groups);
      ch = await this.#readClientHello();
      if (this.#o.tamper?.secondHrr) {
        await this.#sendHrr(ch, suite.code, groups, true);
        ch = await this.#readClientHello();
      }
      share = clientShare(ch, groups);
      if (!share) throw new Error("FakeServer: no acceptable key share after HRR");
    }
    const ours = await KeyShare.generate(share.group, systemRandom);
    let sh: ServerHello = {
      legacyVersion: 0x0303,
      random: systemRandom.bytes(32),
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite.code,
      legacyCompressionMethod: 0,
      extensions: [
        extension(ExtensionType.supported_versions, (w) => w.u16(0x0304)),
        extension(ExtensionType.key_share, (w) => w.u16(share!.group).vector(2, ours.publicKey)),
      ],
    };
    if (this.#o.tamper?.serverHello) sh = this.#o.tamper.serverHello(sh);
    const shMsg = encodeServerHello(sh);
    this.#transcript.selectHash(suite.hash);
    this.#transcript.add(shMsg);
    let bytes = encodePlaintextRecord(
      ContentType.handshake,
      concatBytes(shMsg, this.#o.tamper?.serverHelloRecordExtra ?? new Uint8Array(0)),
    );
    if (this.#o.ccsAfterHello) bytes = concatBytes(bytes, new Uint8Array([20, 3, 3, 0, 1, 1]));
    if (this.#o.tamper?.afterServerHello) {
      bytes = concatBytes(bytes, this.#o.tamper.afterServerHello);
    }
    await this.#t.write(bytes);
    const hs = EarlySecret.create(suite).handshakeSecret(await ours.sharedSecret(share.key));
    const secrets = hs.trafficSecrets(this.#transcript.digest());
    this.#out = RecordEncrypter.create(secrets.server);
    this.#in = RecordDecrypter.create(secrets.client);
    await this.#sendFlight(secrets.server);
    const app = hs.masterSecret().applicationTrafficSecrets(this.#transcript.digest());
    this.#serverApp = app.server;
    this.#clientApp = app.client;
    await this.#readClientFlight(secrets.client);
    this.#out = RecordEncrypter.create(app.server);
    this.#in = RecordDecrypter.create(app.client);
  }

  async #readClientHello(): Promise<ClientHello> {
    const m = await this.#nextMessage();
    if (m.type !== 1) throw new Error(`FakeServer: expected ClientHello, got ${m.type}`);
    const ch = decodeClientHello(m.body);
    this.result.clientHellos.push(ch);
    this.#transcript.add(m.raw);
    return ch;
  }

  async #sendHrr(ch: ClientHello, suite: number, groups: number[], again = false) {
    const offered = supportedGroups(ch);
    const group = groups.find((g) => offered.includes(g));
    let hrr: ServerHello = {
      legacyVersion: 0x0303,
      random: HELLO_RETRY_REQUEST_RANDOM,
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite,
      legacyCompressionMethod: 0,
      extensions: [
        extension(ExtensionType.supported_versions, (w) => w.u16(0x0304)),
        ...(group === undefined ? [] : [extension(ExtensionType.key_share, (w) => w.u16(group))]),
        ...(this.#o.cookie
          ? [extension(ExtensionType.cookie, (w) => w.vector(2, this.#o.cookie!))]
          : []),
      ],
    };
    if (this.#o.tamper?.helloRetryRequest) hrr = this.#o.tamper.helloRetryRequest(hrr);
    const msg = encodeServerHello(hrr);
    if (!again) this.#transcript.replaceWithMessageHash(cipherSuiteInfo(suite)!.hash);
    this.#transcript.add(msg);
    await this.#t.write(encodePlaintextRecord(ContentType.handshake, msg));
  }

  async #sendFlight(serverSecret: HandshakeTrafficSecret): Promise<void> {
    const tamper = this.#o.tamper ?? {};
    const ee = encodeEncryptedExtensions({
      extensions: tamper.eeExtensions ??
        (this.#o.alpn
          ? [
            extension(ExtensionType.application_layer_protocol_negotiation, (w) =>
              w.sub(2, (l) => l.vector(1, new TextEncoder().encode(this.#o.alpn!)))),
          ]
          : []),
    });
    const messages = [ee];
    if (this.#o.certificateRequest) {
      messages.push(encodeCertificateRequest(new Uint8Array(0), [
        extension(
          ExtensionType.signature_algorithms,
          (w) => w.u16List(2, [0x0403, 0x0503, 0x0804, 0x0807]),
        ),
      ]));
    }
    messages.push(encodeCertificateEntries({
      context: new Uint8Array(0),
      entries: [{ certData: FAKE_CERTIFICATE, extensions: [] }],
    }));
    for (const m of messages) this.#transcript.add(m);
    const content = certificateVerifyContent(SERVER_CONTEXT, this.#transcript.digest());
    const raw = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        SERVER_KEYS.privateKey,
        content as BufferSource,
      ),
    );
    const signature = ecdsaRawToDer(raw);
    if (tamper.corruptSignature) signature[signature.length - 1] ^= 1;
    const cv = encodeCertificateVerify({ scheme: tamper.cvScheme ?? 0x0403, signature });
    this.#transcript.add(cv);
    messages.push(cv);
    const verifyData = serverSecret.finishedVerifyData(this.#transcript.digest());
    if (tamper.corruptFinished) verifyData[0] ^= 1;
    const fin = encodeFinished(verifyData);
    this.#transcript.add(fin);
    messages.push(fin);
    const sent = tamper.flight ? tamper.flight(messages) : messages;
    const all = concatBytes(...sent);
    const size = tamper.recordSize ?? 16384;
    let records: { type: number; content: Uint8Array }[] = [];
    for (let at = 0; at < all.length; at += size) {
      records.push({ type: ContentType.handshake, content: all.subarray(at, at + size) });
    }
    if (tamper.records) records = tamper.records(records);
    for (const r of records) await this.sendRecord(r.type, r.content);
  }

  async #readClientFlight(clientSecret: HandshakeTrafficSecret): Promise<void> {
    for (;;) {
      const m = await this.#nextMessage();
      if (m.type === 11) {
        const cert = decodeCertificate(m.body);
        this.result.clientCertificates = cert.entries.map((e) => e.certData.slice());
      }
      if (m.type === 15) {
        // Test convention: the client's "certificate" is its SPKI, so the signature can be
        // checked here with the real verifier.
        const cv = decodeCertificateVerify(m.body);
        this.result.clientScheme = cv.scheme;
        await verifyClientSignature(
          cv.scheme,
          this.result.clientCertificates![0],
          certificateVerifyContent(CLIENT_CONTEXT, this.#transcript.digest()),
          cv.signature,
        );
      }
      if (m.type === 20) {
        const expected = clientSecret.finishedVerifyData(this.#transcript.digest());
        if (expected.some((b, i) => b !== m.body[i])) throw new Error("FakeServer: bad Finished");
        this.#transcript.add(m.raw);
        return;
      }
      this.#transcript.add(m.raw);
    }
  }

  async #nextMessage(): Promise<HandshakeMessage> {
    for (;;) {
      const m = this.#messages.next();
      if (m) return m;
      const r = await this.readRecord();
      if (!r) throw new Error("FakeServer: client closed");
      if (r.type === ContentType.alert) {
        this.result.alert = alertName(r.content[1]);
        throw new Error(`FakeServer: client sent alert ${this.result.alert}`);
      }
      if (r.type !== ContentType.handshake) throw new Error(`FakeServer: got record ${r.type}`);
      this.#messages.push(r.content);
    }
  }

  /** The next record from the client (decrypted when keys are set); CCS skipped. */
  async readRecord(): Promise<{ type: number; content: Uint8Array } | null> {
    for (;;) {
      const raw = await this.#reader.next();
      if (!raw) return null;
      if (raw.type === ContentType.change_cipher_spec) continue;
      if (this.#in && raw.type === ContentType.application_data) {
        const o = this.#in.open(raw.header, raw.fragment);
        return { type: o.type, content: o.content };
      }
      return { type: raw.type, content: raw.fragment.slice() };
    }
  }

  /** Reads until the client sends an alert or closes; returns the alert's name. */
  async readAlert(): Promise<string | undefined> {
    await this.#running?.catch(() => {}); // one reader at a time
    if (this.result.alert) return this.result.alert;
    try {
      for (;;) {
        const r = await this.readRecord();
        if (!r) return undefined;
        if (r.type === ContentType.alert) return this.result.alert = alertName(r.content[1]);
      }
    } catch {
      return undefined;
    }
  }

  async sendRecord(type: number, content: Uint8Array): Promise<void> {
    await this.#t.write(this.record(type, content));
  }

  /** The bytes of one record as sendRecord() would send it (it takes a sequence number). */
  record(type: number, content: Uint8Array): Uint8Array {
    return this.#out ? this.#out.sealRecord(type, content) : encodePlaintextRecord(type, content);
  }

  /** A KeyUpdate record, after which the server's sending keys move on (for sendRaw()). */
  keyUpdateRecord(requested: boolean): Uint8Array {
    const rec = this.record(ContentType.handshake, encodeKeyUpdate(requested));
    this.#serverApp = this.#serverApp!.next();
    this.#out = RecordEncrypter.create(this.#serverApp);
    return rec;
  }

  /** Sends raw bytes. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.#t.write(bytes);
  }

  /** KeyUpdate from the server, then its sending keys move on (RFC 8446 4.6.3). */
  async sendKeyUpdate(requested: boolean): Promise<void> {
    await this.sendRaw(this.keyUpdateRecord(requested));
  }

  /** Reads application data; a KeyUpdate from the client moves the receiving keys on. */
  async readAppData(): Promise<Uint8Array | null> {
    for (;;) {
      const r = await this.readRecord();
      if (!r) return null;
      if (r.type === ContentType.application_data) return r.content;
      if (r.type === ContentType.alert) {
        this.result.alert = alertName(r.content[1]);
        return null;
      }
      if (r.type === ContentType.handshake && r.content[0] === 24) {
        this.result.keyUpdates = (this.result.keyUpdates ?? 0) + 1;
        this.#clientApp = this.#clientApp!.next();
        this.#in = RecordDecrypter.create(this.#clientApp);
        if (r.content[4] === 1) await this.sendKeyUpdate(false);
      }
    }
  }

  close(): void {
    this.#t.close();
  }
}

function clientShare(
  ch: ClientHello,
  groups: number[],
): { group: number; key: Uint8Array } | undefined {
  const ks = findExtension(ch.extensions, ExtensionType.key_share);
  if (!ks) return undefined;
  const r = new Reader(ks.data, "key_share").sub(2, "client_shares");
  while (!r.atEnd) {
    const group = r.u16();
    const key = r.vector(2, "key");
    if (groups.includes(group)) return { group, key };
  }
  return undefined;
}

function supportedGroups(ch: ClientHello): number[] {
  const e = findExtension(ch.extensions, ExtensionType.supported_groups);
  return e ? new Reader(e.data, "supported_groups").u16List(2, "groups") : [];
}
