/**
 * The signing seam between TLS (and CSR creation) and whatever holds the private key.
 *
 * TLS asks a `SigningKey` which of the server's offered schemes it can produce
 * (`chooseScheme`), then hands the returned `Signer` the unhashed message; the signer returns
 * the signature exactly as it goes on the wire (DER for ECDSA). TLS never sees key material,
 * so a token key and a file key look the same to it.
 */

/** What kind of key it is, for listings and for picking schemes. */
export type KeyType =
  | { readonly kind: "ec"; readonly curve: "P-256" | "P-384" | "P-521" }
  | { readonly kind: "rsa"; readonly bits: number }
  | { readonly kind: "ed25519" };

export interface Signer {
  /** The TLS SignatureScheme code this signer produces (RFC 8446 section 4.2.3). */
  readonly scheme: number;
  /**
   * Signs `message` (not hashed by the caller) and returns the signature in its TLS wire form:
   * DER `ECDSA-Sig-Value` for ECDSA, the raw signature for RSA-PSS and Ed25519.
   */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface SigningKey {
  /** Where the key lives, for messages: a file path or a PKCS#11 URI (never a PIN). */
  readonly description: string;
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo of the public half. */
  readonly publicKeySpki: Uint8Array;
  /** Every scheme this key can produce, most preferred first. */
  readonly schemes: readonly number[];
  /** The first of our schemes that the peer offered, or undefined when there is none. */
  chooseScheme(offered: readonly number[]): Signer | undefined;
}
