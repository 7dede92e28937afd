/**
 * The part of a `SigningKey` every provider shares: scheme choice and `Signer` objects. A
 * provider supplies one function that signs the unhashed message for a scheme it offers.
 */
import type { KeyType, Signer, SigningKey } from "./signing_key.ts";

export interface KeyParts {
  readonly description: string;
  readonly keyType: KeyType;
  readonly publicKeySpki: Uint8Array;
  /** The schemes this key can produce, most preferred first. */
  readonly schemes: readonly number[];
  /** Signs `message` with `scheme` (one of `schemes`) and returns the TLS wire signature. */
  sign(scheme: number, message: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A SigningKey that can also be closed (releases a token session; a no-op for file keys). */
export interface ClosableSigningKey extends SigningKey {
  close(): Promise<void>;
}

export function makeSigningKey(parts: KeyParts): ClosableSigningKey {
  const signers = new Map<number, Signer>(
    parts.schemes.map((scheme) => [scheme, {
      scheme,
      sign: (message: Uint8Array) => parts.sign(scheme, message),
    }]),
  );
  return {
    description: parts.description,
    keyType: parts.keyType,
    publicKeySpki: parts.publicKeySpki,
    schemes: [...parts.schemes],
    chooseScheme(offered: readonly number[]): Signer | undefined {
      // Our preference order wins (RFC 8446 section 4.4.3 leaves the choice to the signer).
      const scheme = parts.schemes.find((s) => offered.includes(s));
      return scheme === undefined ? undefined : signers.get(scheme);
    },
    close: parts.close ?? (() => Promise.resolve()),
  };
}
