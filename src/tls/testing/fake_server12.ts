/**
 * Test-only: a small TLS 1.2 server (ECDHE, AEAD, extended master secret) built from this
 * module's own pieces, over an in-memory pipe, with hooks to misbehave. Like the TLS 1.3 fake
 * server it drives the client through paths real servers never take (a downgrade sentinel, a
 * missing extension, a bad signature); interop with OpenSSL, GnuTLS and stunnel shows the
 * crypto right.
 */

import { alertName } from "../alert.ts";
import { type CipherSuiteInfo, cipherSuiteInfo } from "../cipher_suites.ts";
import { bytesEqual, concatBytes } from "../codec.ts";
import { ecdsaRawToDer } from "../../keys/mod.ts";
import { KeyShare, Transcript, verifyServerSignature } from "../handshake/mod.ts";
import {
  type ClientHello,
  decodeCertificate12,
  decodeCertificateVerify,
  decodeClientHello,
  decodeClientKeyExchange,
  encodeCertificate12,
  encodeCertificateRequest12,
  encodeFinished,
  encodeServerHello,
  encodeServerHelloDone,
  encodeServerKeyExchange,
  type Extension,
  extension,
  ExtensionType,
  findExtension,
  type HandshakeMessage,
  HandshakeReassembler,
  type ServerHello,
  serverKeyExchangeContent,
} from "../messages/mod.ts";
import { Tls12MasterSecret } from "../prf.ts";
import {
  ContentType,
  encodePlaintextRecord,
  RecordReader,
  Tls12RecordDecrypter,
  Tls12RecordEncrypter,
} from "../record/mod.ts";
import { systemRandom } from "../random.ts";
import { FAKE_CERTIFICATE, SERVER_KEYS } from "./fake_server_identity.ts";
import type { PipeEnd } from "./test_transport.ts";

export interface FakeTls12ServerOptions {
  /** Default TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; an RSA suite uses `rsaKey`. */
  suite?: number;
  /** The ECDHE group, default x25519. */
  group?: number;
  /** Ask for a client certificate with these schemes. */
  certificateRequest?: readonly number[];
  /** Refuse an empty client Certificate with handshake_failure, as OpenSSL's -Verify does. */
  requireCertificate?: boolean;
  alpn?: string;
  /** The server's RSA key pair for ECDHE_RSA suites (its SPKI must be what the client trusts). */
  rsaKey?: CryptoKeyPair;
  tamper?: {
    serverHello?(sh: ServerHello): ServerHello;
    /** The scheme written in the ServerKeyExchange (the signature stays ECDSA/PSS). */
    skeScheme?: number;
    corruptSkeSignature?: boolean;
    corruptFinished?: boolean;
    /** Rewrite the server's first flight (whole messages) before it is sent. */
    flight?(messages: Uint8Array[]): Uint8Array[];
    /** Raw bytes sent in place of change_cipher_spec + Finished. */
    finishedFlight?(ccsAndFinished: Uint8Array): Uint8Array;
  };
}

/** What the server saw from the client. */
export interface FakeTls12ServerResult {
  clientHello?: ClientHello;
  alert?: string;
  clientCertificates?: Uint8Array[];
  clientScheme?: number;
  /** The NSS key log line of the master secret (the client's hook must log the same). */
  keyLog?: string;
}

export class FakeTls12Server {
  readonly result: FakeTls12ServerResult = {};
  readonly #t: PipeEnd;
  readonly #o: FakeTls12ServerOptions;
  readonly #suite: CipherSuiteInfo;
  readonly #reader: RecordReader;
  readonly #messages = new HandshakeReassembler();
  readonly #transcript = new Transcript();
  #in: Tls12RecordDecrypter | undefined;
  #out: Tls12RecordEncrypter | undefined;
  #running: Promise<void> | undefined;

  constructor(transport: PipeEnd, options: FakeTls12ServerOptions = {}) {
    this.#t = transport;
    this.#o = options;
    this.#suite = cipherSuiteInfo(options.suite ?? 0xc02b)!;
    this.#reader = new RecordReader(transport, 5_000);
  }

  /** The full handshake; resolves after our Finished is sent. */
  handshake(): Promise<void> {
    this.#running ??= this.#handshake();
    return this.#running;
  }

  async #handshake(): Promise<void> {
    const m = await this.#nextMessage();
    const ch = decodeClientHello(m.body);
    this.result.clientHello = ch;
    this.#transcript.retainMessages();
    this.#transcript.selectHash(this.#suite.hash);
    this.#transcript.add(m.raw);
    const serverRandom = systemRandom.bytes(32);
    const ours = await KeyShare.generate(this.#o.group ?? 0x001d, systemRandom);
    const flight = [
      encodeServerHello(this.#serverHello(serverRandom)),
      encodeCertificate12([FAKE_CERTIFICATE]),
      await this.#serverKeyExchange(ch.random, serverRandom, ours),
    ];
    if (this.#o.certificateRequest) {
      flight.push(encodeCertificateRequest12([1, 64], this.#o.certificateRequest));
    }
    flight.push(encodeServerHelloDone());
    const sent = this.#o.tamper?.flight?.(flight) ?? flight;
    // A HelloRequest slipped in is not part of the handshake hash (RFC 5246 7.4.1.1).
    for (const f of sent) if (f[0] !== 0) this.#transcript.add(f);
    await this.#t.write(encodePlaintextRecord(ContentType.handshake, concatBytes(...sent)));
    const master = await this.#readClientFlight(ours);
    const keys = master.trafficKeys(ch.random, serverRandom);
    this.result.keyLog = master.keyLogLine(ch.random);
    this.#out = Tls12RecordEncrypter.create(this.#suite, keys.server);
    const decrypter = Tls12RecordDecrypter.create(this.#suite, keys.client);
    await this.#readClientFinished(master, decrypter);
    const verifyData = master.serverFinished(this.#transcript.digest());
    if (this.#o.tamper?.corruptFinished) verifyData[0] ^= 1;
    const ccsAndFinished = concatBytes(
      new Uint8Array([20, 3, 3, 0, 1, 1]),
      this.#out.sealRecord(ContentType.handshake, encodeFinished(verifyData)),
    );
    await this.#t.write(this.#o.tamper?.finishedFlight?.(ccsAndFinished) ?? ccsAndFinished);
  }

  #serverHello(random: Uint8Array): ServerHello {
    const extensions: Extension[] = [
      extension(ExtensionType.renegotiation_info, (w) => w.u8(0)),
      { type: ExtensionType.extended_master_secret, data: new Uint8Array(0) },
      extension(ExtensionType.ec_point_formats, (w) => w.u8(1).u8(0)),
    ];
    if (this.#o.alpn) {
      extensions.push(extension(
        ExtensionType.application_layer_protocol_negotiation,
        (w) => w.sub(2, (l) => l.vector(1, new TextEncoder().encode(this.#o.alpn!))),
      ));
    }
    const sh: ServerHello = {
      legacyVersion: 0x0303,
      random,
      legacySessionIdEcho: systemRandom.bytes(32), // a new session id, not the client's
      cipherSuite: this.#suite.code,
      legacyCompressionMethod: 0,
      extensions,
    };
    const tampered = this.#o.tamper?.serverHello?.(sh) ?? sh;
    random.set(tampered.random); // the ServerKeyExchange signs what was sent
    return tampered;
  }

  async #serverKeyExchange(
    clientRandom: Uint8Array,
    serverRandom: Uint8Array,
    share: KeyShare,
  ): Promise<Uint8Array> {
    const rsa = this.#suite.auth === "RSA";
    const scheme = rsa ? 0x0804 : 0x0403; // rsa_pss_rsae_sha256 / ecdsa_secp256r1_sha256
    const { params } = encodeServerKeyExchange({
      group: share.group,
      publicKey: share.publicKey,
      scheme,
      signature: new Uint8Array(1),
    });
    const content = serverKeyExchangeContent(clientRandom, serverRandom, params);
    let signature = rsa
      ? new Uint8Array(
        await crypto.subtle.sign(
          { name: "RSA-PSS", saltLength: 32 },
          this.#o.rsaKey!.privateKey,
          content as BufferSource,
        ),
      )
      : ecdsaRawToDer(
        new Uint8Array(
          await crypto.subtle.sign(
            { name: "ECDSA", hash: "SHA-256" },
            SERVER_KEYS.privateKey,
            content as BufferSource,
          ),
        ),
      );
    if (this.#o.tamper?.corruptSkeSignature) signature = signature.map((b, i) => i ? b : b ^ 1);
    return encodeServerKeyExchange({
      group: share.group,
      publicKey: share.publicKey,
      scheme: this.#o.tamper?.skeScheme ?? scheme,
      signature,
    }).message;
  }

  /** [Certificate] ClientKeyExchange [CertificateVerify]: returns the master secret. */
  async #readClientFlight(ours: KeyShare): Promise<Tls12MasterSecret> {
    let m = await this.#nextMessage();
    if (m.type === 11) {
      this.result.clientCertificates = decodeCertificate12(m.body).entries.map((e) =>
        e.certData.slice()
      );
      if (this.#o.requireCertificate && this.result.clientCertificates.length === 0) {
        await this.#t.write(encodePlaintextRecord(ContentType.alert, new Uint8Array([2, 40])));
        throw new Error("FakeTls12Server: the client sent no certificate");
      }
      this.#transcript.add(m.raw);
      m = await this.#nextMessage();
    }
    if (m.type !== 16) {
      throw new Error(`FakeTls12Server: expected ClientKeyExchange, got ${m.type}`);
    }
    const pms = await ours.sharedSecret(decodeClientKeyExchange(m.body));
    this.#transcript.add(m.raw);
    const master = Tls12MasterSecret.extended(this.#suite, pms, this.#transcript.digest());
    if (this.result.clientCertificates?.length) {
      m = await this.#nextMessage();
      if (m.type !== 15) throw new Error(`FakeTls12Server: expected CertificateVerify`);
      // Test convention: the client's "certificate" is its SPKI, checked by the real verifier.
      const cv = decodeCertificateVerify(m.body);
      this.result.clientScheme = cv.scheme;
      if (cv.scheme !== 0x0401) {
        await verifyServerSignature(
          cv.scheme,
          this.result.clientCertificates[0],
          this.#transcript.messages(),
          cv.signature,
        );
      } else {
        await verifyPkcs1(this.result.clientCertificates[0], this.#transcript.messages(), cv);
      }
      this.#transcript.add(m.raw);
    }
    return master;
  }

  /** The client's change_cipher_spec, then its Finished under its new keys. */
  async #readClientFinished(
    master: Tls12MasterSecret,
    decrypter: Tls12RecordDecrypter,
  ): Promise<void> {
    const ccs = await this.#reader.next();
    if (ccs?.type !== ContentType.change_cipher_spec) {
      throw new Error(`FakeTls12Server: expected change_cipher_spec, got ${ccs?.type}`);
    }
    this.#in = decrypter;
    this.#reader.ciphertextForAllTypes = true;
    const m = await this.#nextMessage();
    const expected = master.clientFinished(this.#transcript.digest());
    if (m.type !== 20 || !bytesEqual(m.body, expected)) {
      throw new Error("FakeTls12Server: bad client Finished");
    }
    this.#transcript.add(m.raw);
  }

  async #nextMessage(): Promise<HandshakeMessage> {
    for (;;) {
      const m = this.#messages.next();
      if (m) return m;
      const r = await this.readRecord();
      if (!r) throw new Error("FakeTls12Server: client closed");
      if (r.type === ContentType.alert) {
        this.result.alert = alertName(r.content[1]);
        throw new Error(`FakeTls12Server: client sent alert ${this.result.alert}`);
      }
      if (r.type !== ContentType.handshake) {
        throw new Error(`FakeTls12Server: got record ${r.type}`);
      }
      this.#messages.push(r.content);
    }
  }

  /** The next record from the client, decrypted once its keys are in use. */
  async readRecord(): Promise<{ type: number; content: Uint8Array } | null> {
    const raw = await this.#reader.next();
    if (!raw) return null;
    if (this.#in) return this.#in.open(raw.header, raw.fragment);
    return { type: raw.type, content: raw.fragment.slice() };
  }

  /** Reads until the client sends an alert or closes; returns the alert's name. */
  async readAlert(): Promise<string | undefined> {
    await this.#running?.catch(() => {});
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

  /** Application data from the client; null at an alert (kept in result) or the end. */
  async readAppData(): Promise<Uint8Array | null> {
    for (;;) {
      const r = await this.readRecord();
      if (!r) return null;
      if (r.type === ContentType.application_data) return r.content;
      if (r.type === ContentType.alert) {
        this.result.alert = alertName(r.content[1]);
        return null;
      }
    }
  }

  /** One record, protected under our keys once they are in use. */
  async sendRecord(type: number, content: Uint8Array): Promise<void> {
    await this.#t.write(
      this.#out ? this.#out.sealRecord(type, content) : encodePlaintextRecord(type, content),
    );
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.#t.write(bytes);
  }

  /** A HelloRequest (RFC 5246 7.4.1.1): the server asks to renegotiate. */
  async sendHelloRequest(): Promise<void> {
    await this.sendRecord(ContentType.handshake, new Uint8Array([0, 0, 0, 0]));
  }

  close(): void {
    this.#t.close();
  }
}

/** RSA PKCS#1 v1.5 (rsa_pkcs1_sha256), which the TLS 1.3 verifier refuses by design. */
async function verifyPkcs1(
  spki: Uint8Array,
  content: Uint8Array,
  cv: { signature: Uint8Array },
): Promise<void> {
  const key = await crypto.subtle.importKey(
    "spki",
    spki as BufferSource,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    key,
    cv.signature as BufferSource,
    content as BufferSource,
  );
  if (!ok) throw new Error("FakeTls12Server: bad RSA PKCS#1 v1.5 CertificateVerify");
}

/** The schemes a client's ClientHello offered (signature_algorithms). */
export function offeredSchemes(ch: ClientHello): number[] {
  const e = findExtension(ch.extensions, ExtensionType.signature_algorithms)!;
  const out: number[] = [];
  for (let i = 2; i < e.data.length; i += 2) out.push((e.data[i] << 8) | e.data[i + 1]);
  return out;
}
