/**
 * What a handshake needs (resolved from TlsClientOptions) and what it gives back, shared by the
 * TLS 1.3 handshake and the TLS 1.2 one (tls12/).
 */

import type { TrustStore } from "../../x509/mod.ts";
import type { CipherSuiteInfo, TlsVersion } from "../cipher_suites.ts";
import type { ApplicationTrafficSecret } from "../key_schedule.ts";
import type { ClientHello } from "../messages/mod.ts";
import type { RandomSource } from "../random.ts";
import type { ClientAuth } from "./client_auth.ts";
import type { ChainVerifier, VerifiedServer } from "./server_auth.ts";

/** Everything the handshake needs, resolved from TlsClientOptions. */
export interface HandshakeConfig {
  /** Name checked against the certificate (DNS name or IP literal). */
  readonly serverName: string;
  /** The SNI host name; undefined for IP literals. */
  readonly sni: string | undefined;
  readonly trustStore: TrustStore;
  readonly clientAuth: ClientAuth | undefined;
  readonly alpn: readonly string[] | undefined;
  /** Offered suites, preferred first: TLS 1.3 ones, and TLS 1.2 ones when allowTls12. */
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
  /** Offer TLS 1.2 besides TLS 1.3 (1.3 preferred); false: TLS 1.3 only. */
  readonly allowTls12: boolean;
  readonly random: RandomSource;
  readonly verifyChain: ChainVerifier;
  readonly now: Date | undefined;
  /** Test hook: rewrite a ClientHello before it is sent (to replay RFC 8448 traces). */
  readonly shapeClientHello?: (ch: ClientHello, index: 1 | 2) => ClientHello;
  /**
   * Test hook: receives the NSS key log line of a TLS 1.2 master secret, so that a test can
   * compare it with what the server logged. Never set by the product.
   */
  readonly keyLog?: (line: string) => void;
}

/** What the handshake produced: the negotiated parameters and, in TLS 1.3, the secrets. */
export interface HandshakeOutcome {
  readonly version: TlsVersion;
  readonly suite: CipherSuiteInfo;
  readonly group: number;
  readonly hrr: boolean;
  readonly alpn: string | undefined;
  /** DER, leaf first, as the server sent it. */
  readonly chain: readonly Uint8Array[];
  readonly server: VerifiedServer;
  /** The scheme of the server's CertificateVerify (1.3) or ServerKeyExchange (1.2). */
  readonly serverScheme: number;
  /** Time spent verifying the chain and the server's signature. */
  readonly serverAuthMs: number;
  readonly clientCertificateRequested: boolean;
  readonly clientSignatureScheme: number | undefined;
  readonly signatureMs: number | undefined;
  /** Why our key could not answer the CertificateRequest (an empty Certificate went out). */
  readonly clientCertificateWithheld: string | undefined;
  /** TLS 1.3: the application traffic secrets (KeyUpdate); TLS 1.2 keys are in the layer. */
  readonly secrets:
    | { client: ApplicationTrafficSecret; server: ApplicationTrafficSecret }
    | undefined;
}
