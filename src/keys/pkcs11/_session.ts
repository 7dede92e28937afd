/**
 * Opening a session on the configured token: load the module, pick the token, open a session,
 * log in when the token requires it. Shared by the signing key, the listings and key generation.
 */
import type { Secret } from "../../secret.ts";
import { loginIfRequired } from "./_login.ts";
import { type Handle, pkcs11js, Pkcs11Module } from "./_module.ts";
import { selectToken, type TokenDescription } from "./_tokens.ts";
import type { KeyUri } from "./uri.ts";

export interface TokenAccessOptions {
  /** Absolute path of the PKCS#11 library (device.cryptoki.module_path). */
  modulePath: string;
  /** Which token (and key): device.key_uri, else device.cryptoki.uri. */
  uri?: KeyUri;
  /** Legacy device.cryptoki.serial (same as `serial=` in the URI). */
  serial?: string;
  /** The user PIN, used when the URI carries no `pin-value`. */
  pin?: Secret;
  /** device.cryptoki.p11_kit_server_address, for p11-kit-client.so. */
  p11KitServerAddress?: string;
}

export interface TokenSession {
  readonly mod: Pkcs11Module;
  readonly token: TokenDescription;
  readonly session: Handle;
  /** The PIN that logged in, when the token required one (recovery may reuse only that one). */
  readonly pinUsed?: Secret;
  /** Closes the session and releases the module. */
  close(): void;
}

/** The PIN to use: `pin-value` in the URI wins over the configured one (COMPAT.md section 1). */
export function effectivePin(opts: TokenAccessOptions): Secret | undefined {
  return opts.uri?.pinValue ?? opts.pin;
}

export function openTokenSession(
  opts: TokenAccessOptions,
  { readWrite = false, login = true } = {},
): TokenSession {
  const mod = Pkcs11Module.acquire(opts.modulePath, {
    p11KitServerAddress: opts.p11KitServerAddress,
  });
  let session: Handle | undefined;
  try {
    const token = selectToken(mod, { uri: opts.uri, serial: opts.serial });
    const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
    session = mod.call(
      "C_OpenSession",
      `Cannot open a session on token "${token.label}"`,
      (p) => p.C_OpenSession(token.slot, flags),
    );
    const pin = effectivePin(opts);
    const loggedIn = login ? loginIfRequired(mod, session, token, pin) : false;
    const opened = session;
    return {
      mod,
      token,
      session: opened,
      pinUsed: loggedIn ? pin : undefined,
      close() {
        try {
          mod.p11.C_CloseSession(opened);
        } catch { /* the session may already be gone */ }
        mod.release();
      },
    };
  } catch (e) {
    if (session) {
      try {
        mod.p11.C_CloseSession(session);
      } catch { /* ignore */ }
    }
    mod.release();
    throw e;
  }
}
