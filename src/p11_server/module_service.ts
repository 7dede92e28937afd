/**
 * The server's token side: module mode's key provider (keys/pkcs11) behind the protocol, so
 * its rules hold here too: a lost token is re-initialised and the signature retried once, a
 * PIN the token refused is never tried again in this process, a locked PIN is not a wrong one.
 *
 * Key URI and PIN of a request, as tedge-p11-server takes them:
 * - the server's --uri (device.cryptoki.uri) is a filter: its attributes win, the request's
 *   fill in the rest;
 * - PIN: pin-value in the URI, else the request's, else the server's --pin.
 *
 * Keys stay open between requests (a signature is then one C_Sign). A PIN is checked when a key
 * is opened: since a login holds for every session of the token (PKCS#11 v2.40 section 5.6),
 * a request with another PIN first closes every open key, so that its PIN meets C_Login.
 */
import type { Secret } from "../secret.ts";
import { getLogger } from "../log.ts";
import {
  ALGORITHM,
  type ClosableSigningKey,
  type CreateKeyFields,
  type CreateKeySpec,
  describeKeyType,
  encodeServerPublicKey,
  type KeyDetails,
  type KeyTypeParams,
  KeyUri,
  type KeyUriFields,
  loadPkcs11,
  type Pkcs11Provider,
  schemeName,
  type TokenDetails,
  TokenNotFoundError,
} from "../keys/mod.ts";
import type { P11Service } from "./service.ts";

const log = getLogger("p11-server");

export interface ModuleServiceOptions {
  modulePath: string;
  /** --pin: used when a request carries none. */
  pin: Secret;
  /** --uri: the filter every request's URI is merged into. */
  uri?: KeyUri;
  signTimeoutMs?: number;
}

const KEY_TYPE_NAMES = { rsa: "RSA", ec: "EC", ed25519: "EC_EDWARDS" } as const;

export class ModuleService implements P11Service {
  readonly #keys = new Map<string, ClosableSigningKey>();
  /** The PIN the open keys logged in with. */
  #pin: Secret | undefined;

  private constructor(readonly opts: ModuleServiceOptions, readonly p11: Pkcs11Provider) {}

  /**
   * Loads the provider and checks that the module loads (a missing or broken module is a
   * configuration error, exit 78); no token yet is only worth a warning.
   */
  static async create(opts: ModuleServiceOptions): Promise<ModuleService> {
    const p11 = await loadPkcs11();
    try {
      const tokens = p11.listTokens({ modulePath: opts.modulePath });
      log.info("PKCS#11 module loaded", { module: opts.modulePath, tokens: tokens.length });
    } catch (e) {
      if (!(e instanceof TokenNotFoundError)) throw e;
      log.warn("No token yet; requests will fail until one is present", {
        module: opts.modulePath,
      });
    }
    return new ModuleService(opts, p11);
  }

  /** The request's URI merged into the server's (the server's attributes win). */
  #uri(request: string | undefined): KeyUri {
    const asked = request ? KeyUri.parse(request) : new KeyUri();
    const filter = this.opts.uri;
    if (!filter) return asked;
    const set = Object.fromEntries(
      Object.entries(filter).filter(([, v]) => v !== undefined),
    ) as KeyUriFields;
    return asked.with({
      ...set,
      vendorPath: { ...asked.vendorPath, ...filter.vendorPath },
      vendorQuery: { ...asked.vendorQuery, ...filter.vendorQuery },
    });
  }

  #effectivePin(uri: KeyUri, pin: Secret | undefined): Secret {
    return uri.pinValue ?? pin ?? this.opts.pin;
  }

  /** Open keys logged in with another PIN are closed first (see the top of the file). */
  async #usePin(pin: Secret): Promise<void> {
    if (this.#pin && !this.#pin.equals(pin)) await this.#closeKeys();
    this.#pin = pin;
  }

  async #key(uriText: string | undefined, pin: Secret | undefined): Promise<ClosableSigningKey> {
    const uri = this.#uri(uriText);
    const effective = this.#effectivePin(uri, pin);
    await this.#usePin(effective);
    const id = uri.toString();
    let key = this.#keys.get(id);
    if (!key) {
      key = await this.p11.openPkcs11Key({
        modulePath: this.opts.modulePath,
        uri,
        pin: effective,
        signTimeoutMs: this.opts.signTimeoutMs,
      });
      this.#keys.set(id, key);
    }
    return key;
  }

  /** Forgets a key after a failure, so that the next request opens it afresh. */
  #drop(uriText: string | undefined): void {
    const id = this.#uri(uriText).toString();
    const key = this.#keys.get(id);
    this.#keys.delete(id);
    key?.close().catch(() => {});
  }

  async chooseScheme(offered: readonly number[], uri?: string, pin?: Secret) {
    const key = await this.#key(uri, pin);
    const signer = key.chooseScheme(offered);
    if (!signer) {
      throw new Error(
        `failed to choose scheme: ${key.description} signs with ` +
          `${key.schemes.map(schemeName).join(", ")}; the client offered ` +
          `${offered.map(schemeName).join(", ") || "nothing"}`,
      );
    }
    const kind = key.keyType.kind;
    const algorithm = kind === "rsa"
      ? ALGORITHM.rsa
      : kind === "ec"
      ? ALGORITHM.ecdsa
      : ALGORITHM.ed25519;
    return { scheme: signer.scheme, algorithm };
  }

  async sign(toSign: Uint8Array, uri?: string, sigscheme?: number, pin?: Secret) {
    const key = await this.#key(uri, pin);
    const scheme = sigscheme ?? key.schemes[0];
    const signer = key.chooseScheme([scheme]);
    if (!signer) {
      throw new Error(
        `${key.description} cannot sign with ${schemeName(scheme)} (it signs with ` +
          `${key.schemes.map(schemeName).join(", ")})`,
      );
    }
    try {
      return await signer.sign(toSign);
    } catch (e) {
      this.#drop(uri);
      throw e;
    }
  }

  /**
   * The public key of the key the URI selects. A key already open answers without a login;
   * otherwise the key is opened with the PIN in use (else the server's), as tedge-p11-server
   * logs in with its own PIN for this request, which carries none.
   */
  async publicKeyPem(uri?: string) {
    const open = this.#keys.get(this.#uri(uri).toString());
    const key = open ?? await this.#key(uri, this.#pin);
    return encodeServerPublicKey(key.publicKeySpki);
  }

  async createKey(req: CreateKeyFields) {
    const uri = this.#uri(req.uri);
    const pin = this.#effectivePin(uri, req.pin);
    await this.#usePin(pin);
    const created = await this.p11.createKey(
      { modulePath: this.opts.modulePath, uri, pin },
      createSpec(req.key),
      { label: req.label, id: req.id },
    );
    log.info("Key created", {
      key: created.uri.toString(),
      type: describeKeyType(created.keyType),
    });
    return { pem: encodeServerPublicKey(created.publicKeySpki), uri: created.uri.toString() };
  }

  async tokenUris() {
    return (await this.listTokens()).map((t) => t.uri);
  }

  listTokens(): Promise<TokenDetails[]> {
    try {
      return Promise.resolve(
        this.p11.listTokens({ modulePath: this.opts.modulePath }).map((t) => ({
          slot: BigInt(t.slotId),
          label: t.label,
          model: t.model,
          manufacturer: t.manufacturer,
          serial: t.serial,
          initialized: true,
          uri: t.uri,
        })),
      );
    } catch (e) {
      // No token is an empty list, as tedge-p11-server answers.
      if (e instanceof TokenNotFoundError) return Promise.resolve([]);
      throw e;
    }
  }

  async listKeys(uriText?: string, pin?: Secret): Promise<KeyDetails[]> {
    const uri = this.#uri(uriText);
    const effective = this.#effectivePin(uri, pin);
    await this.#usePin(effective);
    const { keys } = this.p11.listKeys({ modulePath: this.opts.modulePath, uri, pin: effective });
    return keys.map((k) => ({
      class: "private",
      keyType: k.keyType ? KEY_TYPE_NAMES[k.keyType.kind] : "",
      label: k.label,
      id: k.idHex,
      uri: k.uri,
    }));
  }

  async #closeKeys(): Promise<void> {
    const keys = [...this.#keys.values()];
    this.#keys.clear();
    await Promise.allSettled(keys.map((k) => k.close()));
  }

  async close(): Promise<void> {
    await this.#closeKeys();
  }
}

/** CreateKeyRequest's parameters as module mode's key spec (tedge-p11-server's limits). */
function createSpec(key: KeyTypeParams): CreateKeySpec {
  if (key.kind === "ec") {
    if (key.curve === 256) return { type: "ecdsa", curve: "P-256" };
    if (key.curve === 384) return { type: "ecdsa", curve: "P-384" };
    throw new RangeError(`Invalid EC curve value ${key.curve}: only P256/P384 valid`);
  }
  if (key.bits === 2048 || key.bits === 3072 || key.bits === 4096) {
    return { type: "rsa", bits: key.bits };
  }
  throw new RangeError(
    `Invalid bits value ${key.bits}: only 2048/3072/4096 key sizes are valid`,
  );
}
