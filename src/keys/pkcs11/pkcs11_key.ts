/**
 * A private key on a PKCS#11 token as a `SigningKey`.
 *
 * Opening (before any network traffic):
 *   1. load the module, pick the token, open a session, log in if required (_session.ts);
 *   2. pick the key: by URI object/id, else the one whose public key is the certificate's;
 *   3. refuse a key that does not match the certificate (KeyMismatchError, exit 78);
 *   4. advertise only schemes whose mechanism the token lists (RSA PKCS#1 v1.5, for TLS 1.2,
 *      through CKM_SHA256_RSA_PKCS and the like, or CKM_RSA_PKCS with a DigestInfo).
 *
 * Signing runs one request at a time on the key's session, on a worker thread (C_SignAsync),
 * bounded by a timeout. A lost token or session (see RECOVERABLE) re-initialises the module,
 * re-opens, logs in again with the PIN that worked, finds the key again and retries once.
 */
import type { Secret } from "../../secret.ts";
import { getLogger } from "../../log.ts";
import { type ClosableSigningKey, makeSigningKey } from "../_key_base.ts";
import { ecdsaCoordinateSize, ecdsaRawToDer } from "../../x509/mod.ts";
import {
  KeyConfigError,
  KeyMismatchError,
  Pkcs11Error,
  SignTimeoutError,
  TokenNotFoundError,
} from "../errors.ts";
import { schemeName } from "../schemes.ts";
import type { KeyType } from "../signing_key.ts";
import { describeKeyType, sameKey } from "../spki.ts";
import { loginIfRequired } from "./_login.ts";
import {
  mechanismFor,
  type SchemeMechanism,
  signInput,
  signMechanisms,
  tokenSchemes,
} from "./_mechanisms.ts";
import {
  Buffer,
  type Handle,
  isRecoverable,
  pkcs11js,
  type Pkcs11Module,
  rvOf,
} from "./_module.ts";
import { findPrivateKeys, type KeyObject } from "./_objects.ts";
import { openTokenSession, type TokenAccessOptions, type TokenSession } from "./_session.ts";
import { listTokenDescriptions, noToken, type TokenDescription } from "./_tokens.ts";
import type { KeyUri } from "./uri.ts";

const log = getLogger("pkcs11");

export const DEFAULT_SIGN_TIMEOUT_MS = 30_000;

export interface Pkcs11KeyOptions extends TokenAccessOptions {
  /** DER SPKI of the device certificate: selects the key when the URI names none. */
  certificateSpki?: Uint8Array;
  /** How to name the certificate in messages (its path). */
  certificateName?: string;
  /** Per-signature timeout (default 30 s). */
  signTimeoutMs?: number;
}

/** The URI of a key object on a token (no PIN). */
export function keyUriOf(token: TokenDescription, key: { label: string; id: Uint8Array }): KeyUri {
  return token.uri.with({
    manufacturer: undefined,
    model: undefined,
    object: key.label || undefined,
    id: key.id.length ? key.id : undefined,
    type: "private",
  });
}

function checkOptions(opts: Pkcs11KeyOptions): void {
  const uri = opts.uri;
  if (!uri) return;
  if (uri.pinSource !== undefined) {
    throw new KeyConfigError(
      `Key URI "${uri}" uses pin-source, which hsm-bridge does not read: ` +
        `use pin-value, device.key_pin or device.cryptoki.pin`,
    );
  }
  if (uri.type !== undefined && uri.type !== "private") {
    throw new KeyConfigError(
      `Key URI "${uri}" names an object of type "${uri.type}": a signing key is type=private`,
    );
  }
  if (uri.modulePath !== undefined && uri.modulePath !== opts.modulePath) {
    throw new KeyConfigError(
      `Key URI "${uri}" names module-path "${uri.modulePath}" but the configured module is ` +
        `"${opts.modulePath}" (device.cryptoki.module_path): make them agree`,
    );
  }
}

/** Picks the key (steps 2 and 3 above). */
function chooseKey(ts: TokenSession, opts: Pkcs11KeyOptions): KeyObject {
  const uri = opts.uri;
  const named = uri?.object !== undefined || uri?.id !== undefined;
  const keys = findPrivateKeys(ts.mod, ts.session, { label: uri?.object, id: uri?.id });
  const where = `token "${ts.token.label}"`;
  const certName = opts.certificateName ?? "(device certificate)";
  if (keys.length === 0) {
    const hidden = ts.pinUsed ? "" : " (not logged in, so private keys may be hidden)";
    throw new KeyConfigError(
      named
        ? `No private key matches "${uri}" on ${where}${hidden}: check object= and id= in the key URI`
        : `No private key found on ${where}${hidden}: create one with "hsm-bridge hsm create-key"`,
    );
  }
  const usable = keys.filter((k) => k.keyType && k.spki);
  if (opts.certificateSpki) {
    const match = usable.find((k) => sameKey(k.spki!, opts.certificateSpki!));
    if (match) return match;
    const keyName = named && keys.length === 1
      ? `"${keyUriOf(ts.token, keys[0])}"`
      : `${named ? `matching "${uri}"` : "(any of the"} ${keys.length} private key(s) on ${where}${
        named ? "" : ")"
      }`;
    throw new KeyMismatchError(
      keyName,
      `"${certName}"`,
      "use the key the certificate was issued for, or issue a certificate for this key " +
        `("hsm-bridge cert create-csr")`,
    );
  }
  if (usable.length === 1) return usable[0];
  if (usable.length === 0) {
    throw new KeyConfigError(
      `No usable private key on ${where}: ${
        keys.map((k) => `"${k.label}": ${k.unsupported}`).join("; ")
      }`,
    );
  }
  throw new KeyConfigError(
    `Several private keys ${named ? `match "${uri}"` : "found"} on ${where} and no device ` +
      `certificate to choose by: name one in device.key_uri: ` +
      usable.map((k) => keyUriOf(ts.token, k).toString()).join(", "),
  );
}

/** Opens the configured key; the caller closes it. */
export function openPkcs11Key(opts: Pkcs11KeyOptions): Promise<ClosableSigningKey> {
  checkOptions(opts);
  const ts = openTokenSession(opts);
  try {
    const key = chooseKey(ts, opts);
    const mechanisms = signMechanisms(ts.mod, ts.token.slot);
    const schemes = tokenSchemes(key.keyType!, mechanisms);
    const uri = keyUriOf(ts.token, key);
    if (schemes.length === 0) {
      throw new KeyConfigError(
        `Token "${ts.token.label}" cannot sign with key "${uri}" (${
          describeKeyType(key.keyType!)
        }): ` +
          `it lists no suitable mechanism (CKM_ECDSA, CKM_RSA_PKCS_PSS, CKM_RSA_PKCS or CKM_EDDSA)`,
      );
    }
    const state = new TokenKeyState(
      ts,
      key,
      mechanisms,
      opts.signTimeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS,
    );
    log.info("using PKCS#11 key", { key: uri.toString(), type: describeKeyType(key.keyType!) });
    return Promise.resolve(makeSigningKey({
      description: `PKCS#11 key "${uri}"`,
      keyType: key.keyType!,
      publicKeySpki: key.spki!,
      schemes,
      sign: (scheme, message) => state.sign(scheme, message),
      close: () => state.close(),
    }));
  } catch (e) {
    ts.close();
    throw e;
  }
}

/** The mutable side of a token key: session, handles, the serial queue, recovery. */
class TokenKeyState {
  readonly #mod: Pkcs11Module;
  #token: TokenDescription;
  #session: Handle | undefined;
  #handle: Handle;
  #generation: number;
  readonly #pin: Secret | undefined;
  readonly #key: KeyObject;
  readonly #keyType: KeyType;
  readonly #uri: string;
  #queue: Promise<unknown> = Promise.resolve();
  /** A signature that timed out and is still running in the module. */
  #stuck: Promise<unknown> | undefined;
  #closed = false;
  /** Bytes of a raw r || s signature (ECDSA keys only). */
  readonly #ecdsaRawSize: number;
  /** The token's signing mechanisms (RSA PKCS#1 v1.5 picks its mechanism from them). */
  readonly #mechanisms: ReadonlySet<number>;

  constructor(
    ts: TokenSession,
    key: KeyObject,
    mechanisms: ReadonlySet<number>,
    readonly timeoutMs: number,
  ) {
    this.#mechanisms = mechanisms;
    this.#mod = ts.mod;
    this.#token = ts.token;
    this.#session = ts.session;
    this.#handle = key.handle;
    this.#generation = ts.mod.generation;
    this.#pin = ts.pinUsed;
    this.#key = key;
    this.#keyType = key.keyType!;
    this.#uri = keyUriOf(ts.token, key).toString();
    this.#ecdsaRawSize = key.keyType!.kind === "ec"
      ? 2 * ecdsaCoordinateSize(key.keyType!.curve)
      : 0;
  }

  sign(scheme: number, message: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error(`PKCS#11 key "${this.#uri}" is closed`));
    const run = this.#queue.then(async () => {
      const mech = mechanismFor(scheme, this.#mechanisms);
      const input = await signInput(mech, message);
      const started = performance.now();
      const signature = await this.#signWithRecovery(mech, input);
      log.trace("signed", {
        key: this.#uri,
        scheme: schemeName(scheme),
        ms: Math.round(performance.now() - started),
      });
      return signature;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #signWithRecovery(mech: SchemeMechanism, input: Uint8Array): Promise<Uint8Array> {
    try {
      return await this.#signOnce(mech, input);
    } catch (e) {
      // A token missing at re-open time (unplugged, p11-kit server down) is retried the same
      // way on the next signature, so the key recovers once the token is back.
      if (!(isRecoverable(e) || e instanceof TokenNotFoundError) || this.#closed) throw e;
      log.warn("PKCS#11 token or session lost; re-initialising and retrying once", {
        key: this.#uri,
        rv: (e as Pkcs11Error).rv?.name ?? rvOf(e)?.name,
      });
      this.#mod.reinitialize(this.#generation);
      // Every handle of the old generation is dead; if re-opening fails now, the next
      // signature re-initialises again rather than waiting for someone else to.
      this.#session = undefined;
      this.#generation = this.#mod.generation;
      this.#reopen();
      return await this.#signOnce(mech, input);
    }
  }

  async #signOnce(mech: SchemeMechanism, input: Uint8Array): Promise<Uint8Array> {
    await this.#waitForStuck();
    if (this.#session === undefined || this.#generation !== this.#mod.generation) this.#reopen();
    const session = this.#session!;
    const what = `Cannot sign with PKCS#11 key "${this.#uri}"`;
    this.#mod.call("C_SignInit", what, (p) => p.C_SignInit(session, mech.mechanism, this.#handle));
    const size = this.#keyType.kind === "rsa" ? Math.ceil(this.#keyType.bits / 8) : 256;
    const pending = this.#mod.p11.C_SignAsync(session, Buffer.from(input), Buffer.alloc(size));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stuck = pending.catch(() => {}).finally(() => (this.#stuck = undefined));
        reject(
          new SignTimeoutError(`${what}: the token did not answer within ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
    });
    let raw: Uint8Array;
    try {
      raw = new Uint8Array(await Promise.race([pending, timeout]));
    } catch (e) {
      if (e instanceof SignTimeoutError) throw e;
      throw this.#mod.error("C_Sign", e, what);
    } finally {
      clearTimeout(timer);
    }
    if (!mech.ecdsa) return raw;
    if (raw.length !== this.#ecdsaRawSize) {
      throw new Pkcs11Error(
        `${what}: CKM_ECDSA returned ${raw.length} bytes, expected ${this.#ecdsaRawSize}`,
      );
    }
    return ecdsaRawToDer(raw);
  }

  /**
   * After a timeout the module is still inside C_Sign on a worker thread. Any further call
   * could block the event loop behind it, so wait (within the timeout) for it to finish first.
   */
  async #waitForStuck(): Promise<void> {
    if (!this.#stuck) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = await Promise.race([
      this.#stuck.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.timeoutMs))),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      throw new SignTimeoutError(
        `Cannot sign with PKCS#11 key "${this.#uri}": the token is still busy with a ` +
          `signature that timed out`,
      );
    }
  }

  /** Re-opens the session after a re-initialisation: token, login, key (found again by id/label). */
  #reopen(): void {
    const old = this.#session;
    this.#session = undefined;
    if (old !== undefined && this.#generation === this.#mod.generation) {
      try {
        this.#mod.p11.C_CloseSession(old);
      } catch { /* it is broken anyway */ }
    }
    const token = listTokenDescriptions(this.#mod).find((t) =>
      t.serial === this.#token.serial && t.label === this.#token.label
    );
    if (!token) throw noToken(this.#mod);
    const session = this.#mod.call(
      "C_OpenSession",
      `Cannot re-open a session on token "${token.label}"`,
      (p) => p.C_OpenSession(token.slot, pkcs11js.CKF_SERIAL_SESSION),
    );
    try {
      // Only a PIN that worked before is used again (a wrong one is never retried).
      loginIfRequired(this.#mod, session, token, this.#pin);
      const filter = this.#key.id.length ? { id: this.#key.id } : { label: this.#key.label };
      const again = findPrivateKeys(this.#mod, session, filter).find((k) =>
        k.spki && sameKey(k.spki, this.#key.spki!)
      );
      if (!again) {
        throw new Pkcs11Error(
          `PKCS#11 key "${this.#uri}" is no longer on token "${token.label}" after re-opening it`,
        );
      }
      this.#token = token;
      this.#handle = again.handle;
      this.#session = session;
      this.#generation = this.#mod.generation;
    } catch (e) {
      try {
        this.#mod.p11.C_CloseSession(session);
      } catch { /* ignore */ }
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    if (this.#stuck) await this.#waitForStuck().catch(() => {});
    // A handle from before a re-initialisation is dead already: only release the module.
    if (this.#session !== undefined && this.#generation === this.#mod.generation) {
      try {
        this.#mod.p11.C_CloseSession(this.#session);
      } catch { /* the session may be gone */ }
    }
    this.#session = undefined;
    this.#mod.release();
  }
}
