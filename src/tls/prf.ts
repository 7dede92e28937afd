/**
 * The TLS 1.2 key derivation, as pure functions and one phase class:
 *
 * ```
 *   pre-master secret ((EC)DHE output)
 *        | PRF(pms, "extended master secret", session_hash)   RFC 7627 4 (the only way in)
 *        v
 *   master secret (48 bytes)
 *        |-- PRF(ms, "key expansion", server_random + client_random)    RFC 5246 6.3
 *        |      -> client/server write key, client/server write IV (no MAC keys: AEAD)
 *        '-- PRF(ms, "client finished" | "server finished", Hash(handshake))[0..11]  7.4.9
 * ```
 *
 * The PRF is P_<hash> of RFC 5246 section 5 with the suite's hash (SHA-256, or SHA-384 for the
 * AES-256-GCM suites). There is deliberately no function for the RFC 5246 master secret
 * ("master secret" over the randoms): a server without extended master secret is refused
 * before keys are made (RFC 7627 5.2), so the only master secret here is bound to the
 * handshake and cannot be forced equal across two connections (the triple handshake attack).
 */

import type { CipherSuiteInfo, SuiteHash } from "./cipher_suites.ts";
import { concatBytes, toHex } from "./codec.ts";
import { hmac } from "./key_schedule.ts";

const te = new TextEncoder();

/** Length of the master secret (RFC 5246 section 8.1). */
export const MASTER_SECRET_LENGTH = 48;
/** Length of Finished.verify_data for every suite we offer (RFC 5246 section 7.4.9). */
export const VERIFY_DATA_LENGTH = 12;

/**
 * PRF(secret, label, seed) = P_<hash>(secret, label + seed), its first `length` bytes
 * (RFC 5246 section 5):
 *
 *   P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...
 *   A(0) = seed, A(i) = HMAC(secret, A(i-1))
 */
export function prf(
  hash: SuiteHash,
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 1024) {
    throw new RangeError(`PRF output length ${length} is out of range`);
  }
  const labelSeed = concatBytes(te.encode(label), seed);
  const out = new Uint8Array(length);
  let a = labelSeed;
  for (let at = 0; at < length;) {
    a = hmac(hash, secret, a);
    const block = hmac(hash, secret, concatBytes(a, labelSeed));
    out.set(block.subarray(0, Math.min(block.length, length - at)), at);
    at += block.length;
  }
  return out;
}

/**
 * master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47], where
 * session_hash is the hash of the handshake messages from ClientHello through ClientKeyExchange
 * (RFC 7627 section 4).
 */
export function extendedMasterSecret(
  hash: SuiteHash,
  preMasterSecret: Uint8Array,
  sessionHash: Uint8Array,
): Uint8Array {
  return prf(hash, preMasterSecret, "extended master secret", sessionHash, MASTER_SECRET_LENGTH);
}

/**
 * key_block = PRF(master_secret, "key expansion", server_random + client_random)
 * (RFC 5246 section 6.3), `length` bytes.
 */
export function keyBlock(
  hash: SuiteHash,
  masterSecret: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  length: number,
): Uint8Array {
  return prf(hash, masterSecret, "key expansion", concatBytes(serverRandom, clientRandom), length);
}

/**
 * verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]
 * (RFC 5246 section 7.4.9).
 */
export function finishedVerifyData(
  hash: SuiteHash,
  masterSecret: Uint8Array,
  label: "client finished" | "server finished",
  handshakeHash: Uint8Array,
): Uint8Array {
  return prf(hash, masterSecret, label, handshakeHash, VERIFY_DATA_LENGTH);
}

/**
 * The implicit part of the AEAD nonce each side keeps (RFC 5246 6.2.3.3 fixed_iv_length): the
 * 4-byte salt of AES-GCM (RFC 5288 section 3) or the 12-byte IV of ChaCha20-Poly1305 (RFC 7905
 * section 2).
 */
export function fixedIvLength(suite: CipherSuiteInfo): number {
  return suite.aead === "AES-GCM" ? 4 : 12;
}

/** Write key and fixed IV of one direction. */
export interface Tls12TrafficKeys {
  readonly key: Uint8Array;
  readonly fixedIv: Uint8Array;
}

/**
 * The master secret of one TLS 1.2 connection. Made only by the extended master secret
 * derivation; gives the record keys and both Finished values. The bytes never print.
 */
export class Tls12MasterSecret {
  readonly suite: CipherSuiteInfo;
  readonly #bytes: Uint8Array;

  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    this.suite = suite;
    this.#bytes = bytes;
  }

  /** RFC 7627 section 4; `sessionHash` covers ClientHello .. ClientKeyExchange. */
  static extended(
    suite: CipherSuiteInfo,
    preMasterSecret: Uint8Array,
    sessionHash: Uint8Array,
  ): Tls12MasterSecret {
    if (suite.version !== "TLSv1.2") throw new RangeError(`${suite.name} is not a TLS 1.2 suite`);
    return new Tls12MasterSecret(
      suite,
      extendedMasterSecret(suite.hash, preMasterSecret, sessionHash),
    );
  }

  /**
   * The key block split as RFC 5246 section 6.3 lays it out (MAC keys are empty for AEADs):
   * client_write_key, server_write_key, client_write_IV, server_write_IV.
   */
  trafficKeys(
    clientRandom: Uint8Array,
    serverRandom: Uint8Array,
  ): { client: Tls12TrafficKeys; server: Tls12TrafficKeys } {
    const k = this.suite.keyLength;
    const iv = fixedIvLength(this.suite);
    const block = keyBlock(this.suite.hash, this.#bytes, clientRandom, serverRandom, 2 * (k + iv));
    const out = {
      client: { key: block.slice(0, k), fixedIv: block.slice(2 * k, 2 * k + iv) },
      server: { key: block.slice(k, 2 * k), fixedIv: block.slice(2 * k + iv, 2 * (k + iv)) },
    };
    block.fill(0);
    return out;
  }

  /** Our Finished.verify_data over Hash(ClientHello .. CertificateVerify). */
  clientFinished(handshakeHash: Uint8Array): Uint8Array {
    return finishedVerifyData(this.suite.hash, this.#bytes, "client finished", handshakeHash);
  }

  /** The server's expected verify_data over Hash(ClientHello .. our Finished). */
  serverFinished(handshakeHash: Uint8Array): Uint8Array {
    return finishedVerifyData(this.suite.hash, this.#bytes, "server finished", handshakeHash);
  }

  /**
   * The NSS key log line (`CLIENT_RANDOM <client random> <master secret>`), for a test that
   * compares our master secret with the one the server logged. Not exported by the door.
   */
  keyLogLine(clientRandom: Uint8Array): string {
    return `CLIENT_RANDOM ${toHex(clientRandom)} ${toHex(this.#bytes)}`;
  }

  toString(): string {
    return "[Tls12MasterSecret]";
  }

  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}
