/**
 * tedge.toml -> key provider options (COMPAT.md section 1). The commands that need the device
 * key (`run`, `check tls`, `check key`, `cert create-csr`, `hsm ...`) go through here, so the
 * mode, URI, PIN precedence and legacy keys are read in one place.
 *
 *   mode off    -> file key device.key_path
 *   mode module -> device.cryptoki.module_path; key URI device.key_uri, else device.cryptoki.uri;
 *                  PIN: pin-value in the URI > device.key_pin > device.cryptoki.pin (default
 *                  "123456"); device.cryptoki.serial; device.cryptoki.p11_kit_server_address
 *   mode socket -> tedge-p11-server at device.cryptoki.socket_path; as tedge >= 1.7, requests
 *                  carry device.key_uri (with its pin-value) and device.key_pin; without them the
 *                  server's own URI filter and PIN apply. No PKCS#11 module is loaded.
 */
import type { TedgeConfig } from "../config/mod.ts";
import {
  type ClosableSigningKey,
  type CreatedKey,
  type CreateKeySpec,
  createKeyThrough,
  KeyConfigError,
  type KeyListing,
  type KeyProviderOptions,
  KeyUri,
  KeyUriError,
  listKeysThrough,
  listTokensThrough,
  loadPkcs11,
  openSigningKey,
  P11Client,
  type SocketAccess,
  type TokenAccessOptions,
  type TokenListing,
} from "../keys/mod.ts";
import { loadCertificateFile, spkiOf, type X509Certificate } from "../x509/mod.ts";

export interface DeviceCertificate {
  readonly path: string;
  /** Leaf first, then any intermediates. */
  readonly chain: readonly X509Certificate[];
  /** DER SPKI of the leaf. */
  readonly spki: Uint8Array;
}

/** device.cert_path, parsed; throws CertificateFileError (exit 78) when it cannot be used. */
export async function loadDeviceCertificate(config: TedgeConfig): Promise<DeviceCertificate> {
  const path = config.require("device.cert_path");
  const chain = await loadCertificateFile(path);
  return { path, chain, spki: spkiOf(chain[0]) };
}

/** Like loadDeviceCertificate, but undefined when the file does not exist (yet). */
export async function loadDeviceCertificateIfPresent(
  config: TedgeConfig,
): Promise<DeviceCertificate | undefined> {
  const path = config.get("device.cert_path");
  if (!path) return undefined;
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
  }
  return await loadDeviceCertificate(config);
}

/**
 * The key URI in effect, parsed: device.key_uri, else (module mode) device.cryptoki.uri. In
 * socket mode device.cryptoki.uri is the server's setting, as in thin-edge.
 */
export function configuredKeyUri(
  config: TedgeConfig,
  keys: readonly ("device.key_uri" | "device.cryptoki.uri")[] = [
    "device.key_uri",
    "device.cryptoki.uri",
  ],
): KeyUri | undefined {
  for (const key of keys) {
    const text = config.get(key);
    if (text === undefined) continue;
    try {
      return KeyUri.parse(text);
    } catch (e) {
      if (e instanceof KeyUriError) {
        throw new KeyConfigError(`Invalid ${key}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }
  return undefined;
}

/** What the token commands need to reach the configured token (module mode settings). */
export function tokenAccessOptions(config: TedgeConfig): TokenAccessOptions {
  return {
    modulePath: config.require("device.cryptoki.module_path"),
    uri: configuredKeyUri(config),
    serial: config.get("device.cryptoki.serial"),
    // pin-value in the URI wins inside the provider; then key_pin, then cryptoki.pin.
    pin: config.get("device.key_pin") ?? config.get("device.cryptoki.pin"),
    p11KitServerAddress: config.get("device.cryptoki.p11_kit_server_address"),
  };
}

/** Socket mode: the server, and the key URI and PIN every request carries. */
export function socketAccess(config: TedgeConfig, timeoutMs?: number): SocketAccess {
  return {
    client: new P11Client({ socketPath: config.require("device.cryptoki.socket_path"), timeoutMs }),
    uri: configuredKeyUri(config, ["device.key_uri"]),
    pin: config.get("device.key_pin"),
  };
}

/** What the `hsm` commands do with the token, in module or socket mode. */
export interface TokenAdmin {
  listTokens(): Promise<TokenListing[]>;
  listKeys(certificateSpki?: Uint8Array): Promise<{ token: TokenListing; keys: KeyListing[] }>;
  createKey(spec: CreateKeySpec, names: { label?: string; id?: Uint8Array }): Promise<CreatedKey>;
}

export function tokenAdmin(config: TedgeConfig): TokenAdmin {
  if (config.get("device.cryptoki.mode") === "socket") {
    const access = socketAccess(config);
    return {
      listTokens: () => listTokensThrough(access),
      listKeys: (certificateSpki) => listKeysThrough(access, certificateSpki),
      createKey: (spec, names) => createKeyThrough(access, spec, names),
    };
  }
  const access = tokenAccessOptions(config);
  return {
    listTokens: async () => (await loadPkcs11()).listTokens(access),
    listKeys: async (certificateSpki) =>
      (await loadPkcs11()).listKeys({ ...access, certificateSpki }),
    createKey: async (spec, names) => await (await loadPkcs11()).createKey(access, spec, names),
  };
}

export interface KeyOpenOptions {
  /**
   * The certificate the key must match (and selects the token key when the URI names none).
   * Default: device.cert_path is loaded. `null`: no check (a CSR for a new key).
   */
  certificate?: DeviceCertificate | null;
  signTimeoutMs?: number;
}

/** The provider options for the configured key (`opts.certificate` as given, no default). */
export function keyProviderOptions(
  config: TedgeConfig,
  opts: KeyOpenOptions = {},
): KeyProviderOptions {
  const certificateSpki = opts.certificate?.spki;
  const certificateName = opts.certificate?.path;
  switch (config.get("device.cryptoki.mode") ?? "off") {
    case "off":
      return {
        kind: "file",
        keyPath: config.require("device.key_path"),
        certificateSpki,
        certificateName,
      };
    case "module":
      return {
        kind: "pkcs11",
        ...tokenAccessOptions(config),
        certificateSpki,
        certificateName,
        signTimeoutMs: opts.signTimeoutMs,
      };
    case "socket": {
      const access = socketAccess(config);
      return {
        kind: "socket",
        socketPath: access.client.socketPath,
        uri: access.uri,
        pin: access.pin,
        certificateSpki,
        certificateName,
        timeoutMs: opts.signTimeoutMs,
      };
    }
  }
}

/**
 * Opens the configured device key and checks it against the device certificate (loaded from
 * device.cert_path unless given): a key that is not the certificate's is refused here, before
 * any network traffic (KeyMismatchError, exit 78). The caller closes the key.
 */
export async function openConfiguredKey(
  config: TedgeConfig,
  opts: KeyOpenOptions = {},
): Promise<ClosableSigningKey> {
  const certificate = opts.certificate === undefined
    ? await loadDeviceCertificate(config)
    : opts.certificate;
  return await openSigningKey(keyProviderOptions(config, { ...opts, certificate }));
}
