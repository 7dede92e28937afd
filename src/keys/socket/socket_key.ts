/**
 * The device key behind tedge-p11-server as a `SigningKey` (device.cryptoki.mode = socket). No
 * PKCS#11 module is loaded in this process: the server holds the token.
 *
 * Opening, before any network traffic:
 *   1. ChooseSchemeRequest with every scheme the protocol can name: the server picks the one
 *      its key signs with (and, hsm-bridge p11-server, opens and logs in to the key);
 *   2. GetPublicKeyPemRequest: the public key, whose type must fit that scheme;
 *   3. a key that is not the device certificate's is refused (KeyMismatchError, exit 78).
 * Each signature is one SignRequestWithSigScheme naming that scheme (Ed25519, which the
 * protocol cannot name, asks for the key's default). Like tedge >= 1.7, the request carries
 * device.key_uri as the key URI and device.key_pin as the PIN; without a PIN the server uses
 * its own (device.cryptoki.pin on the server's side).
 */
import type { Secret } from "../../secret.ts";
import { getLogger } from "../../log.ts";
import { type ClosableSigningKey, makeSigningKey } from "../_key_base.ts";
import { KeyConfigError, KeyMismatchError } from "../errors.ts";
import { schemeName, schemesForKeyType, SignatureScheme } from "../schemes.ts";
import { describeKeyType, parseSpki, sameKey } from "../spki.ts";
import type { KeyUri } from "../pkcs11/mod.ts";
import { P11Client } from "./client.ts";
import { P11ServerError } from "./errors.ts";
import { SIG_SCHEMES } from "./frame.ts";
import { decodeServerPublicKey } from "./public_key.ts";

const log = getLogger("p11-client");

/**
 * The TLS 1.3 schemes a socket key can sign with: those SignRequestWithSigScheme can name, and
 * Ed25519 as the key's default scheme.
 */
export const SOCKET_SCHEMES: readonly number[] = [
  ...SIG_SCHEMES.filter((s) => s !== SignatureScheme.rsa_pkcs1_sha256),
  SignatureScheme.ed25519,
];

export interface SocketKeyOptions {
  socketPath: string;
  /** device.key_uri: which key the server should use (sent with its pin-value, if any). */
  uri?: KeyUri;
  /** device.key_pin; without it the server uses its own PIN. */
  pin?: Secret;
  /** DER SPKI of the device certificate; the key must be its private half. */
  certificateSpki?: Uint8Array;
  certificateName?: string;
  /** For every request to the server (default 30 s). */
  timeoutMs?: number;
}

/** Opens the key through the server (steps 1-3); the caller closes it. */
export async function openSocketKey(opts: SocketKeyOptions): Promise<ClosableSigningKey> {
  const client = new P11Client({ socketPath: opts.socketPath, timeoutMs: opts.timeoutMs });
  const uri = opts.uri?.toString({ includePin: true });
  const shown = opts.uri?.toString();
  const description = `PKCS#11 key ${shown ? `"${shown}"` : "(the server's choice)"} ` +
    `through tedge-p11-server "${opts.socketPath}"`;

  const chosen = await client.chooseScheme(SOCKET_SCHEMES, uri, opts.pin);
  const scheme = chosen.scheme;
  if (scheme === undefined || !SOCKET_SCHEMES.includes(scheme)) {
    throw new KeyConfigError(
      `${description} cannot sign TLS 1.3 handshakes: the server offers ` +
        `${scheme === undefined ? "no scheme" : schemeName(scheme)} (hsm-bridge needs one of ` +
        `${SOCKET_SCHEMES.map(schemeName).join(", ")})`,
    );
  }
  const spki = await publicKey(client, uri, opts, description);
  const { keyType } = parseSpki(spki);
  if (!schemesForKeyType(keyType).includes(scheme)) {
    throw new KeyConfigError(
      `${description}: the server chose ${schemeName(scheme)} for a ` +
        `${describeKeyType(keyType)} key`,
    );
  }
  if (opts.certificateSpki && !sameKey(spki, opts.certificateSpki)) {
    throw new KeyMismatchError(
      `${shown ? `"${shown}"` : "(the server's choice)"} through tedge-p11-server ` +
        `"${opts.socketPath}"`,
      `"${opts.certificateName ?? "(device certificate)"}"`,
      "point device.key_uri at the key the certificate was issued for, or issue a " +
        `certificate for this key ("hsm-bridge cert create-csr")`,
    );
  }
  log.info("using PKCS#11 key through tedge-p11-server", {
    socket: opts.socketPath,
    key: shown ?? "(server's choice)",
    type: describeKeyType(keyType),
    scheme: schemeName(scheme),
  });
  // Ed25519 cannot be named in a request: it is the key's only, hence default, scheme.
  const named = scheme === SignatureScheme.ed25519 ? undefined : scheme;
  return makeSigningKey({
    description,
    keyType,
    publicKeySpki: spki,
    schemes: [scheme],
    sign: (_scheme, message) => client.sign(message, uri, named, opts.pin),
  });
}

/**
 * The key's public half. tedge-p11-server reads it from the token's public key object; where
 * there is none it refuses, and the device certificate's key stands in (the handshake still
 * proves the server holds its private half).
 */
async function publicKey(
  client: P11Client,
  uri: string | undefined,
  opts: SocketKeyOptions,
  description: string,
): Promise<Uint8Array> {
  let pem: string;
  try {
    pem = await client.publicKeyPem(uri);
  } catch (e) {
    if (!(e instanceof P11ServerError) || !opts.certificateSpki) throw e;
    log.warn("the server cannot read the public key; using the device certificate's", {
      reason: e.serverMessage,
    });
    return opts.certificateSpki;
  }
  try {
    return decodeServerPublicKey(pem);
  } catch (e) {
    throw new KeyConfigError(
      `${description}: the server sent a public key hsm-bridge cannot read: ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
}
