/**
 * The one place pkcs11js is imported. A Cryptoki library is process-global (one C_Initialize
 * per process), so modules are shared: `acquire` loads and initialises a library once per path
 * and counts its users; the last `release` finalises it.
 *
 * Recovery (COMPAT.md section 4) re-initialises the library; `generation` counts those, so a key
 * whose session predates the current generation knows it must re-open without finalising again.
 * A re-initialisation whose C_Initialize failed (the token is still gone) leaves the library
 * uninitialised: the next attempt, whoever makes it, initialises again.
 */
import pkcs11js from "pkcs11js";
import { Buffer } from "node:buffer";
import { getLogger } from "../../log.ts";
import { KeyConfigError, Pkcs11Error, type Rv } from "../errors.ts";

export { Buffer, pkcs11js };
export type P11 = pkcs11js.PKCS11;
export type Handle = Buffer;

const log = getLogger("pkcs11");

globalThis.addEventListener("unload", () => Pkcs11Module.finalizeAll());

/** Vendor-neutral constants pkcs11js does not export (PKCS#11 v3.0). */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** CKR_ names by value, from the constants pkcs11js exports (PKCS#11 v2.40 and its own). */
const CKR_NAMES = new Map<number, string>(
  Object.entries(pkcs11js)
    .filter(([name, value]) => name.startsWith("CKR_") && typeof value === "number")
    .map(([name, value]) => [value as number, name]),
);

/**
 * The Cryptoki return value carried by a pkcs11js error, if it is one: its numeric code, named
 * from the table above (a vendor's code as `CKR_0x80000001`).
 */
export function rvOf(e: unknown): Rv | undefined {
  if (!(e instanceof pkcs11js.Pkcs11Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "number") return undefined;
  return { name: CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, "0")}`, code };
}

/**
 * Return values after which the module is re-initialised and the operation retried once:
 * the token or the session went away (unplugged, p11-kit server restarted, library reset).
 * CKR_GENERAL_ERROR is what some p11-kit versions return for a dead server connection.
 */
export const RECOVERABLE = new Set([
  "CKR_DEVICE_ERROR",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_CRYPTOKI_NOT_INITIALIZED",
  "CKR_GENERAL_ERROR",
  "CKR_USER_NOT_LOGGED_IN",
]);

export function isRecoverable(e: unknown): boolean {
  const rv = (e instanceof Pkcs11Error ? e.rv : undefined) ?? rvOf(e);
  return rv !== undefined && RECOVERABLE.has(rv.name);
}

export interface ModuleOptions {
  /** Exported as P11_KIT_SERVER_ADDRESS before the library loads (p11-kit-client.so). */
  p11KitServerAddress?: string;
}

export class Pkcs11Module {
  static readonly #loaded = new Map<string, Pkcs11Module>();

  #p11: P11;
  #users = 0;
  /** Incremented by every re-initialisation: handles of an older generation are dead. */
  generation = 0;
  /** Whether the last C_Initialize succeeded (false from a failed re-initialisation on). */
  #initialized = false;

  private constructor(readonly path: string, readonly p11KitServerAddress: string | undefined) {
    this.#p11 = new pkcs11js.PKCS11();
  }

  /** The library at `path`, loaded and initialised (shared with other users in the process). */
  static acquire(path: string, opts: ModuleOptions = {}): Pkcs11Module {
    let mod = Pkcs11Module.#loaded.get(path);
    if (mod) {
      if (opts.p11KitServerAddress && opts.p11KitServerAddress !== mod.p11KitServerAddress) {
        throw new KeyConfigError(
          `Cannot use p11-kit server address "${opts.p11KitServerAddress}" for PKCS#11 module ` +
            `"${path}": it is already loaded with ${
              mod.p11KitServerAddress ? `"${mod.p11KitServerAddress}"` : "no address"
            } in this process`,
        );
      }
    } else {
      mod = new Pkcs11Module(path, opts.p11KitServerAddress);
      mod.#load();
      Pkcs11Module.#loaded.set(path, mod);
    }
    mod.#users++;
    return mod;
  }

  #load(): void {
    try {
      const info = Deno.statSync(this.path);
      if (!info.isFile) throw new Deno.errors.IsADirectory();
    } catch (e) {
      const detail = e instanceof Deno.errors.NotFound
        ? "file not found"
        : e instanceof Deno.errors.IsADirectory
        ? "not a file"
        : (e as Error).message;
      throw new Pkcs11Error(`Cannot load PKCS#11 module "${this.path}": ${detail}`, {
        cause: e,
        kind: "configuration",
      });
    }
    if (this.p11KitServerAddress) {
      // p11-kit-client.so reads the address when it is initialised.
      Deno.env.set("P11_KIT_SERVER_ADDRESS", this.p11KitServerAddress);
    }
    try {
      this.#p11.load(this.path);
    } catch (e) {
      throw new Pkcs11Error(
        `Cannot load PKCS#11 module "${this.path}": ${(e as Error).message}`,
        { cause: e, kind: "configuration" },
      );
    }
    this.#initialize();
  }

  #initialize(): void {
    try {
      // CKF_OS_LOCKING_OK: signing runs on a worker thread, and p11-kit-client requires it.
      this.#p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (rvOf(e)?.name !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") {
        throw this.error("C_Initialize", e, `Cannot initialise PKCS#11 module "${this.path}"`);
      }
    }
    this.#initialized = true;
  }

  /** The pkcs11js binding (for the provider's files in this folder only). */
  get p11(): P11 {
    return this.#p11;
  }

  /**
   * Runs one Cryptoki call, turning a pkcs11js error into a `Pkcs11Error` that names the
   * function and the return value. `what` says what was being done, for the message.
   */
  call<T>(fn: string, what: string, f: (p11: P11) => T): T {
    try {
      return f(this.#p11);
    } catch (e) {
      throw this.error(fn, e, what);
    }
  }

  error(fn: string, e: unknown, what: string): Pkcs11Error {
    if (e instanceof Pkcs11Error) return e;
    const rv = rvOf(e);
    const detail = rv ? `${fn} returned ${rv.name}` : `${fn} failed: ${(e as Error)?.message ?? e}`;
    return new Pkcs11Error(`${what}: ${detail}`, { rv, fn, cause: e });
  }

  /**
   * Finalises and initialises the library again, unless another user already did so, with
   * success, since `seenGeneration` (then their re-initialisation serves us too). Throws when
   * C_Initialize fails; the library then stays uninitialised until the next call.
   */
  reinitialize(seenGeneration: number): void {
    if (this.generation !== seenGeneration && this.#initialized) return;
    log.warn("re-initialising PKCS#11 module", { module: this.path });
    try {
      this.#p11.C_Finalize();
    } catch (e) {
      log.debug("C_Finalize before re-initialisation failed", { rv: rvOf(e)?.name });
    }
    // From here on every handle of the old generation is dead, whatever C_Initialize says.
    this.generation++;
    this.#initialized = false;
    this.#initialize();
  }

  /** Drops one user; the last one finalises and unloads the library. */
  release(): void {
    if (--this.#users > 0) return;
    this.#unload();
  }

  /**
   * Finalises every library still loaded when the program ends (a key nobody closed, an error
   * path). Without C_Finalize some libraries crash at exit: SoftHSM with OpenSSL 3 frees its
   * crypto objects after OpenSSL's own exit handler has torn OpenSSL down ("corrupted size vs.
   * prev_size"), turning a successful run into an abort.
   */
  static finalizeAll(): void {
    for (const mod of [...Pkcs11Module.#loaded.values()]) mod.#unload();
  }

  #unload(): void {
    Pkcs11Module.#loaded.delete(this.path);
    try {
      this.#p11.C_Finalize();
    } catch (e) {
      log.debug("C_Finalize failed", { module: this.path, rv: rvOf(e)?.name });
    }
    try {
      this.#p11.close();
    } catch { /* already closed */ }
  }

  /** Whether this module is tpm2-pkcs11 (a TPM 2.0), for "how to end a PIN lockout" hints. */
  get isTpm(): boolean {
    let info = "";
    try {
      const i = this.#p11.C_GetInfo();
      info = `${i.manufacturerID} ${i.libraryDescription}`;
    } catch { /* judge by the path alone */ }
    return /\btpm2?\b|tpm2[-_]/i.test(`${info} ${this.path}`);
  }

  /** Whether this module is p11-kit's client (for "is p11-kit server running?" hints). */
  get isP11KitClient(): boolean {
    return this.p11KitServerAddress !== undefined || /p11-kit-client/.test(this.path);
  }
}
