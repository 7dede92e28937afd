/**
 * Deadlines shared by several areas, each named once with its reason. A leaf: imports nothing.
 */

/**
 * How long a connection to the cloud may take, TCP + TLS handshake + CONNACK, when a hardware
 * token signs the handshake: a YubiKey or a TPM can take seconds per signature, more on first
 * use or under a busy resource manager (COMPAT.md section 2: "allow a 60 s cloud connect /
 * handshake timeout"). Used by `run` (the cloud connection), `check tls` (its --timeout
 * default) and the TLS client's default handshake timeout.
 */
export const HSM_TIMEOUT_MS = 60_000;
