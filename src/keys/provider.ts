/**
 * The key provider entry point: a typed options object in (ARCHITECTURE.md: only the CLI reads
 * configuration), a `SigningKey` out, checked against the device certificate before anything
 * touches the network.
 */
import type { ClosableSigningKey } from "./_key_base.ts";
import { KeyMismatchError } from "./errors.ts";
import { loadFileKey } from "./file/mod.ts";
import { loadPkcs11, type Pkcs11KeyOptions } from "./pkcs11/mod.ts";
import { openSocketKey, type SocketKeyOptions } from "./socket/mod.ts";
import { sameKey } from "./spki.ts";

interface CertificateCheck {
  /** DER SPKI of the device certificate; the key must hold its private half. */
  certificateSpki?: Uint8Array;
  /** How to name the certificate in messages (its path). */
  certificateName?: string;
}

export type KeyProviderOptions =
  | ({ kind: "file"; keyPath: string } & CertificateCheck)
  | ({ kind: "pkcs11" } & Pkcs11KeyOptions)
  | ({ kind: "socket" } & SocketKeyOptions);

/**
 * Opens the configured key. Throws `KeyMismatchError` (exit 78) when a certificate is given and
 * the key is not its private half; the caller must `close()` the key.
 */
export async function openSigningKey(opts: KeyProviderOptions): Promise<ClosableSigningKey> {
  switch (opts.kind) {
    case "file": {
      const key = await loadFileKey(opts.keyPath);
      if (opts.certificateSpki && !sameKey(key.publicKeySpki, opts.certificateSpki)) {
        await key.close();
        throw new KeyMismatchError(
          key.description,
          `"${opts.certificateName ?? "(device certificate)"}"`,
          "use the key the certificate was issued for, or issue a certificate for this key " +
            `("hsm-bridge cert create-csr")`,
        );
      }
      return key;
    }
    case "pkcs11":
      return await (await loadPkcs11()).openPkcs11Key(opts);
    case "socket":
      return await openSocketKey(opts);
  }
}
