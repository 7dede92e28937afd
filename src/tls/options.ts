/**
 * The public shapes of the TLS client: options in, connection and handshake info out.
 */

import type { SigningKey } from "../keys/mod.ts";
import type { TrustStore } from "../x509/mod.ts";
import type { TlsVersion } from "./cipher_suites.ts";
import type { RandomSource } from "./random.ts";

export interface TlsClientOptions {
  /** TCP connect target (name or IP literal). */
  hostname: string;
  port: number;
  /** SNI and certificate name check; default `hostname`. An IP literal: no SNI, IP SAN check. */
  serverName?: string;
  trustStore: TrustStore;
  /** Client certificate (DER, leaf first) and the key that signs the handshake. */
  clientAuth?: { certificateChain: Uint8Array[]; key: SigningKey };
  alpn?: string[];
  /**
   * The oldest version to accept: "TLSv1.2" (the default) offers TLS 1.3 and TLS 1.2 in one
   * ClientHello, TLS 1.3 preferred; "TLSv1.3" offers TLS 1.3 only.
   */
  minVersion?: TlsVersion;
  /** Whole connect + handshake, default 60 000 ms (token signatures can take seconds). */
  handshakeTimeoutMs?: number;
  /** A record that stops arriving part way through, default 30 000 ms. */
  readTimeoutMs?: number;
  /** For tests: restrict or reorder the cipher suites (code points, TLS 1.3 and 1.2 ones). */
  cipherSuites?: number[];
  /** For tests: restrict or reorder the groups; the first one gets the initial key share. */
  groups?: number[];
  /** Cancels the connect and the handshake (not the established connection: use close()). */
  signal?: AbortSignal;
  /** Injectable randomness (RFC 8448 byte tests). */
  random?: RandomSource;
}

/** Time spent in each phase, in milliseconds. */
export interface HandshakeTimings {
  /** TCP connect; undefined when the handshake ran over a given transport. */
  readonly tcpMs: number | undefined;
  /** From the ClientHello to our Finished written (includes the two below). */
  readonly handshakeMs: number;
  /** Server chain and CertificateVerify verification. */
  readonly serverAuthMs: number;
  /** The Signer (token) producing our CertificateVerify; undefined without client auth. */
  readonly signatureMs: number | undefined;
}

/** What was negotiated, for `check tls` and logs. */
export interface HandshakeInfo {
  readonly version: TlsVersion;
  /**
   * TLS 1.2: true, the master secret is bound to the handshake (RFC 7627; a server without it
   * is refused). Undefined for TLS 1.3, whose key schedule always binds the whole handshake.
   */
  readonly extendedMasterSecret: true | undefined;
  /** Cipher suite name, e.g. `TLS_AES_128_GCM_SHA256`, and its code point. */
  readonly suite: string;
  readonly suiteCode: number;
  /** Key exchange group name, e.g. `x25519`, and its code point. */
  readonly group: string;
  readonly groupCode: number;
  /** Whether the server sent a HelloRetryRequest (TLS 1.3 only). */
  readonly hrr: boolean;
  readonly alpn: string | undefined;
  /** The name the certificate was checked against. */
  readonly serverName: string;
  /** The SNI sent; undefined for an IP literal. */
  readonly sni: string | undefined;
  /** Subject of the server's leaf certificate. */
  readonly serverSubject: string;
  /** The server's chain as sent, DER, leaf first. */
  readonly serverChain: readonly Uint8Array[];
  /** Scheme of the server's CertificateVerify, or TLS 1.2 ServerKeyExchange (name and code). */
  readonly serverSignatureScheme: string;
  readonly serverSignatureSchemeCode: number;
  /** Whether the server sent a CertificateRequest. */
  readonly clientCertificateRequested: boolean;
  /** Scheme our key signed with; undefined when no client certificate was sent. */
  readonly clientSignatureScheme: string | undefined;
  readonly clientSignatureSchemeCode: number | undefined;
  /**
   * Set when the server asked for a certificate and the key can make none of the signature
   * schemes it accepts: why an empty Certificate was sent (RFC 8446 4.4.2) instead.
   */
  readonly clientCertificateWithheld: string | undefined;
  /** `host:port` of the TCP peer, when connected by connectTls. */
  readonly remoteAddress: string | undefined;
  readonly timings: HandshakeTimings;
}

export interface TlsConnection {
  readonly info: HandshakeInfo;
  /** Application data; null after close_notify or end of stream. One read at a time is served. */
  read(): Promise<Uint8Array | null>;
  /**
   * Queues `data`; writes issued in the same tick go out together in as few records as
   * possible. `data` is not copied: do not change it until the promise settles.
   */
  write(data: Uint8Array): Promise<void>;
  /** Sends close_notify and closes the socket; idempotent. */
  close(): Promise<void>;
  /** Settles (always resolves) when the connection is gone: after close() or a fatal error. */
  readonly closed: Promise<void>;
  /**
   * Sends a KeyUpdate (RFC 8446 4.6.3), optionally asking the server to update too. TLS 1.2
   * has none: rejects with a TlsLocalError (the connection stays up).
   */
  updateKeys(requestPeerUpdate?: boolean): Promise<void>;
  /**
   * Waits up to `timeoutMs` for the server's first word after the handshake: TLS 1.3 servers
   * refuse a client certificate only after our Finished (a TLS 1.2 server before its own, so
   * a TLS 1.2 connection answers "accepted" at once). "accepted" on a NewSessionTicket or
   * data (kept for read()), "closed" if the server ended the stream, "silent" if nothing came;
   * rejects with TlsAlertReceivedError (e.g. "certificate_required") when the server refused.
   */
  awaitAcceptance(timeoutMs: number): Promise<"accepted" | "closed" | "silent">;
}
