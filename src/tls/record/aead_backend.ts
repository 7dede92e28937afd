/**
 * Which AEAD implementation protects records, chosen once per process (on the first
 * handshake), per suite:
 *
 * 1. libcrypto: the system's OpenSSL 3 (`libcrypto.so.3`) through Deno FFI (_libcrypto.ts),
 *    with AES-NI and vector ChaCha20 where the CPU has them: 0.35 us for a 150-byte AES-GCM
 *    record and 3.3 us for a full 16 KiB one, against 3.9 and 70 us on node:crypto and 30 us
 *    on WebCrypto. Used for every record size, both directions, when the library loads and the
 *    suite passes the self-test (_aead_known_answers.ts: known answers, refusal of tampered
 *    records, and a round trip against node:crypto).
 * 2. node:crypto (aead.ts `NodeAead`, with WebCrypto for large outgoing AES-GCM records): the
 *    fallback, taken silently (a debug log line says why) when the ffi permission is not
 *    granted, the library or one of its symbols is missing, it is older than OpenSSL 3.0, or
 *    the self-test fails; and for a suite the library lacks (ChaCha20 under a FIPS-only
 *    configuration). The environment variable HSM_BRIDGE_NO_LIBCRYPTO=1 forces it.
 */

import { getLogger } from "../../log.ts";
import { type AeadBackend, aeadName, NodeAead } from "./aead.ts";
import { CIPHER_SUITES } from "../cipher_suites.ts";
import { messageOf } from "../errors.ts";
import { checkAead } from "./_aead_known_answers.ts";
import { Libcrypto, LIBCRYPTO_PATH } from "./_libcrypto.ts";

const log = getLogger("tls");

/** node:crypto for every suite. */
export const NODE_BACKEND: AeadBackend = {
  name: "node:crypto",
  create: (suite, key) => new NodeAead(suite, key),
};

/** Environment variable that forces the node:crypto backend when set to 1. */
export const NO_LIBCRYPTO_ENV = "HSM_BRIDGE_NO_LIBCRYPTO";

export interface AeadBackendOptions {
  /** The library to load (default libcrypto.so.3, found the way dlopen(3) finds it). */
  libraryPath?: string;
  /** Do not try libcrypto (the default reads HSM_BRIDGE_NO_LIBCRYPTO). */
  disabled?: boolean;
}

/**
 * Loads libcrypto and self-tests each suite's AEAD there; falls back to node:crypto for
 * whatever fails (and for everything when the library is unusable). Never throws.
 */
export function loadAeadBackend(options: AeadBackendOptions = {}): AeadBackend {
  if (options.disabled ?? envDisabled()) {
    log.debug(`AEAD on node:crypto: libcrypto disabled by ${NO_LIBCRYPTO_ENV}`);
    return NODE_BACKEND;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    log.debug("AEAD on node:crypto: no ffi permission to load libcrypto");
    return NODE_BACKEND;
  }
  const path = options.libraryPath ?? LIBCRYPTO_PATH;
  let lib: Libcrypto;
  try {
    lib = Libcrypto.open(path);
  } catch (err) {
    log.debug("AEAD on node:crypto: cannot use libcrypto", {
      library: path,
      error: messageOf(err),
    });
    return NODE_BACKEND;
  }
  try {
    return selfTested(lib, path);
  } catch (err) {
    lib.close();
    log.debug("AEAD on node:crypto: the libcrypto self-test failed", { error: messageOf(err) });
    return NODE_BACKEND;
  }
}

/**
 * libcrypto for the AEADs whose self-test passes, node:crypto for the others. The TLS 1.3
 * suites cover each AEAD once; a TLS 1.2 suite uses the AEAD of the same name.
 */
function selfTested(lib: Libcrypto, path: string): AeadBackend {
  const passed = new Set<string>();
  for (const suite of CIPHER_SUITES) {
    const problem = lib.supports(suite)
      ? checkAead(
        suite,
        aeadName(suite),
        (key, use) => lib.create(suite, key, use),
        (key) => new NodeAead(suite, key),
      )
      : "not in the library";
    if (problem) log.debug("AEAD self-test failed", { suite: suite.name, problem });
    else passed.add(aeadName(suite));
  }
  if (passed.size === 0) {
    lib.close(); // the self-test freed every context it made
    log.debug("AEAD on node:crypto: no suite passed the libcrypto self-test");
    return NODE_BACKEND;
  }
  log.debug("AEAD on libcrypto", {
    library: path,
    version: lib.version,
    suites: [...passed].join(","),
  });
  return {
    name: "libcrypto",
    create: (suite, key, use) =>
      passed.has(aeadName(suite)) ? lib.create(suite, key, use) : new NodeAead(suite, key),
  };
}

function envDisabled(): boolean {
  const env = Deno.permissions.querySync({ name: "env", variable: NO_LIBCRYPTO_ENV });
  return env.state === "granted" && Deno.env.get(NO_LIBCRYPTO_ENV) === "1";
}

let defaultBackend: AeadBackend | undefined;

/** The process's backend, loaded and self-tested on first use (the first handshake). */
export function aeadBackend(): AeadBackend {
  return defaultBackend ??= loadAeadBackend();
}
