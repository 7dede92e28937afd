/**
 * User login, with a wrong PIN tried at most once per process (COMPAT.md section 2: thin-edge
 * retried it on every reconnect and locked tokens). A refused PIN is remembered per token
 * (serial and label) for the life of the process; later attempts with it fail without calling
 * C_Login. The memory holds `Secret`s and compares them with `equals`, never printing them.
 *
 * A locked PIN is not a refused one: a TPM in dictionary-attack lockout (which other
 * software's failed logins can cause) refuses every PIN, right or wrong, without counting the
 * try, until the lockout ends. That is a PinLockedError, and the PIN is not remembered.
 */
import type { Secret } from "../../secret.ts";
import { getLogger } from "../../log.ts";
import { KeyConfigError, PinError, PinLockedError } from "../errors.ts";
import { type Handle, pkcs11js, type Pkcs11Module, rvOf } from "./_module.ts";
import type { TokenDescription } from "./_tokens.ts";

const log = getLogger("pkcs11");

const PIN_REFUSED = new Set([
  "CKR_PIN_INCORRECT",
  "CKR_PIN_INVALID",
  "CKR_PIN_LEN_RANGE",
  "CKR_PIN_EXPIRED",
]);

interface Failure {
  readonly pin: Secret;
  readonly message: string;
}

/** token key -> PINs that token refused in this process. */
const failures = new Map<string, Failure[]>();

function tokenKey(t: TokenDescription): string {
  return `${t.serial}\u0000${t.label}`;
}

function tokenName(t: TokenDescription): string {
  return `"${t.label}"${t.serial ? ` (serial ${t.serial})` : ""}`;
}

const FIX = "set the right PIN in the key URI (pin-value), device.key_pin or device.cryptoki.pin";

/** What the token says about the remaining tries (CK_TOKEN_INFO flags), or "". */
function triesLeft(flags: number): string {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) {
    return "; the token reports the user PIN is now locked: unlock it with the SO PIN";
  }
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) {
    return "; the token reports one try left before the PIN locks";
  }
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) return "; the token reports few tries left";
  return "";
}

/** "PIN locked for token ...", with how to end the lockout on that kind of token. */
function pinLocked(mod: Pkcs11Module, token: TokenDescription, reason: string): string {
  const fix = mod.isTpm
    ? "a TPM ends its dictionary-attack lockout by itself after its recovery time, or at once " +
      `with "tpm2_dictionarylockout --clear-lockout" (lockout hierarchy authorisation)`
    : "unblock the user PIN with the SO PIN (the token vendor's tool, or " +
      `"pkcs11-tool --login --login-type so --init-pin")`;
  return `PIN locked for token ${tokenName(token)}: ${reason}; it refuses every login, ` +
    `right or wrong, until the lockout ends: ${fix}`;
}

/** For tests: forget every remembered failure. */
export function forgetPinFailures(): void {
  failures.clear();
}

/**
 * Logs the user in when the token requires it; returns whether a login happened (or was already
 * in place), so that recovery logs in again only with a PIN that worked.
 */
export function loginIfRequired(
  mod: Pkcs11Module,
  session: Handle,
  token: TokenDescription,
  pin: Secret | undefined,
): boolean {
  const what = `Cannot log in to token ${tokenName(token)}`;
  const flags = mod.call("C_GetTokenInfo", what, (p) => p.C_GetTokenInfo(token.slot)).flags;
  if ((flags & pkcs11js.CKF_LOGIN_REQUIRED) === 0) return false;
  if (flags & pkcs11js.CKF_PROTECTED_AUTHENTICATION_PATH && !pin) {
    throw new KeyConfigError(
      `${what}: it wants the PIN on its own keypad, which hsm-bridge does not support`,
    );
  }
  if (!pin) throw new KeyConfigError(`${what}: it requires a PIN and none is configured: ${FIX}`);
  const known = failures.get(tokenKey(token))?.find((f) => f.pin.equals(pin));
  if (known) {
    throw new PinError(`${known.message} (not tried again in this process)`, token.label, {});
  }
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) {
    throw new PinLockedError(
      pinLocked(mod, token, "the token reports the user PIN is locked"),
      token.label,
      {},
    );
  }
  try {
    mod.p11.C_Login(session, pkcs11js.CKU_USER, pin.expose());
    return true;
  } catch (e) {
    const rv = rvOf(e);
    if (rv?.name === "CKR_USER_ALREADY_LOGGED_IN") return true;
    if (rv?.name === "CKR_PIN_LOCKED") {
      const message = pinLocked(mod, token, "C_Login returned CKR_PIN_LOCKED");
      throw new PinLockedError(message, token.label, { rv, fn: "C_Login", cause: e });
    }
    if (rv?.name === "CKR_USER_PIN_NOT_INITIALIZED") {
      throw new KeyConfigError(
        `${what}: the token has no user PIN yet: initialise it (e.g. "softhsm2-util ` +
          `--init-token" or the token vendor's tool)`,
        { rv, cause: e },
      );
    }
    if (!rv || !PIN_REFUSED.has(rv.name)) throw mod.error("C_Login", e, what);
    let after = 0;
    try {
      after = mod.p11.C_GetTokenInfo(token.slot).flags;
    } catch { /* the token may be gone; say nothing about tries */ }
    const message = `Wrong PIN for token ${tokenName(token)}: C_Login returned ${rv.name}` +
      `${triesLeft(after)}; ${FIX}`;
    const list = failures.get(tokenKey(token)) ?? [];
    list.push({ pin, message });
    failures.set(tokenKey(token), list);
    log.error("PKCS#11 login refused; this PIN will not be tried again", {
      token: token.label,
      serial: token.serial,
      rv: rv.name,
    });
    throw new PinError(message, token.label, { rv, fn: "C_Login", cause: e });
  }
}
