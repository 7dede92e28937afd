/**
 * The TLS 1.3 key schedule (RFC 8446 section 7.1), without PSKs:
 *
 * ```
 *            0 -> HKDF-Extract = Early Secret
 *                      |
 *                Derive-Secret(., "derived", "")
 *                      v
 *   (EC)DHE -> HKDF-Extract = Handshake Secret --> c/s hs traffic (ClientHello..ServerHello)
 *                      |
 *                Derive-Secret(., "derived", "")
 *                      v
 *            0 -> HKDF-Extract = Master Secret --> c/s ap traffic (ClientHello..server Finished)
 * ```
 *
 * One class per phase: a HandshakeSecret can only give handshake traffic secrets and the master
 * secret, a MasterSecret only application traffic secrets, so a secret cannot be used in the
 * wrong phase. Secret bytes live in private fields and never print.
 *
 * HKDF uses node:crypto's HMAC: it is synchronous and, unlike WebCrypto, accepts the empty
 * salt; we still pass HashLen zero bytes where RFC 8446 says the salt is absent, as the RFC
 * specifies ("0" means a string of Hash.length zero bytes).
 */

import { createHmac } from "node:crypto";
import type { CipherSuiteInfo, SuiteHash } from "./cipher_suites.ts";
import { IV_LENGTH } from "./cipher_suites.ts";
import { Writer } from "./codec.ts";

const te = new TextEncoder();

function nodeHash(hash: SuiteHash): string {
  return hash === "SHA-256" ? "sha256" : "sha384";
}

export function hmac(hash: SuiteHash, key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(nodeHash(hash), key).update(data).digest());
}

/** HKDF-Extract(salt, IKM) (RFC 5869 section 2.2). */
export function hkdfExtract(hash: SuiteHash, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmac(hash, salt, ikm);
}

/** HKDF-Expand(PRK, info, L) (RFC 5869 section 2.3). */
export function hkdfExpand(
  hash: SuiteHash,
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const hashLen = hash === "SHA-256" ? 32 : 48;
  if (length > 255 * hashLen) throw new RangeError(`HKDF-Expand length ${length} is too large`);
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, at = 0; at < length; i++) {
    const input = new Uint8Array(t.length + info.length + 1);
    input.set(t);
    input.set(info, t.length);
    input[input.length - 1] = i;
    t = hmac(hash, prk, input);
    out.set(t.subarray(0, Math.min(t.length, length - at)), at);
    at += t.length;
  }
  return out;
}

/** HKDF-Expand-Label (RFC 8446 section 7.1). */
export function hkdfExpandLabel(
  hash: SuiteHash,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const info = new Writer(10 + label.length + context.length)
    .u16(length)
    .vector(1, te.encode("tls13 " + label))
    .vector(1, context)
    .finish();
  return hkdfExpand(hash, secret, info, length);
}

function emptyHash(hash: SuiteHash): Uint8Array {
  // Transcript-Hash("") for Derive-Secret(., "derived", "").
  return hash === "SHA-256" ? EMPTY_SHA256 : EMPTY_SHA384;
}

const EMPTY_SHA256 = hexBytes(
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
);
const EMPTY_SHA384 = hexBytes(
  "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da" +
    "274edebfe76f65fbd51ad2f14898b95b",
);

function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
}

/** Common base: holds the bytes privately and refuses to print them. */
abstract class ScheduleSecret {
  readonly #bytes: Uint8Array;
  readonly suite: CipherSuiteInfo;

  protected constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    if (bytes.length !== suite.hashLength) {
      throw new RangeError(`Secret of ${bytes.length} bytes does not fit ${suite.name}`);
    }
    this.suite = suite;
    this.#bytes = bytes;
  }

  /** Derive-Secret(Secret, Label, Messages) with the transcript hash given (section 7.1). */
  protected derive(label: string, transcriptHash: Uint8Array): Uint8Array {
    return hkdfExpandLabel(
      this.suite.hash,
      this.#bytes,
      label,
      transcriptHash,
      this.suite.hashLength,
    );
  }

  protected expandLabel(label: string, length: number): Uint8Array {
    return hkdfExpandLabel(this.suite.hash, this.#bytes, label, new Uint8Array(0), length);
  }

  /** The raw secret, for byte-exact tests against RFC 8448 only. Not exported by mod.ts. */
  static exposeForTesting(s: ScheduleSecret): Uint8Array {
    return s.#bytes.slice();
  }

  toString(): string {
    return `[${this.constructor.name}]`;
  }

  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

export const exposeSecretForTesting = (s: object): Uint8Array =>
  // deno-lint-ignore no-explicit-any
  (ScheduleSecret as any).exposeForTesting(s);

/** Early Secret without a PSK: HKDF-Extract(0, 0) (RFC 8446 section 7.1). */
export class EarlySecret extends ScheduleSecret {
  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    super(suite, bytes);
  }

  static create(suite: CipherSuiteInfo): EarlySecret {
    const zeros = new Uint8Array(suite.hashLength);
    return new EarlySecret(suite, hkdfExtract(suite.hash, zeros, zeros));
  }

  /** Handshake Secret = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE). */
  handshakeSecret(sharedSecret: Uint8Array): HandshakeSecret {
    const salt = this.derive("derived", emptyHash(this.suite.hash));
    return HandshakeSecret.fromExtract(
      this.suite,
      hkdfExtract(this.suite.hash, salt, sharedSecret),
    );
  }
}

export class HandshakeSecret extends ScheduleSecret {
  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    super(suite, bytes);
  }

  /** @internal used by EarlySecret only. */
  static fromExtract(suite: CipherSuiteInfo, bytes: Uint8Array): HandshakeSecret {
    return new HandshakeSecret(suite, bytes);
  }

  /** "c hs traffic" / "s hs traffic" over Transcript-Hash(ClientHello..ServerHello). */
  trafficSecrets(helloHash: Uint8Array): {
    client: HandshakeTrafficSecret;
    server: HandshakeTrafficSecret;
  } {
    return {
      client: HandshakeTrafficSecret.fromDerive(this.suite, this.derive("c hs traffic", helloHash)),
      server: HandshakeTrafficSecret.fromDerive(this.suite, this.derive("s hs traffic", helloHash)),
    };
  }

  /** Master Secret = HKDF-Extract(Derive-Secret(hs, "derived", ""), 0). */
  masterSecret(): MasterSecret {
    const salt = this.derive("derived", emptyHash(this.suite.hash));
    const zeros = new Uint8Array(this.suite.hashLength);
    return MasterSecret.fromExtract(this.suite, hkdfExtract(this.suite.hash, salt, zeros));
  }
}

export class MasterSecret extends ScheduleSecret {
  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    super(suite, bytes);
  }

  /** @internal used by HandshakeSecret only. */
  static fromExtract(suite: CipherSuiteInfo, bytes: Uint8Array): MasterSecret {
    return new MasterSecret(suite, bytes);
  }

  /** "c ap traffic" / "s ap traffic" over Transcript-Hash(ClientHello..server Finished). */
  applicationTrafficSecrets(handshakeHash: Uint8Array): {
    client: ApplicationTrafficSecret;
    server: ApplicationTrafficSecret;
  } {
    return {
      client: ApplicationTrafficSecret.fromDerive(
        this.suite,
        this.derive("c ap traffic", handshakeHash),
      ),
      server: ApplicationTrafficSecret.fromDerive(
        this.suite,
        this.derive("s ap traffic", handshakeHash),
      ),
    };
  }
}

/** Key and IV of one direction (RFC 8446 section 7.3). */
export interface TrafficKeys {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

abstract class TrafficSecret extends ScheduleSecret {
  /** [sender]_write_key and [sender]_write_iv (RFC 8446 section 7.3). */
  trafficKeys(): TrafficKeys {
    return {
      key: this.expandLabel("key", this.suite.keyLength),
      iv: this.expandLabel("iv", IV_LENGTH),
    };
  }
}

export class HandshakeTrafficSecret extends TrafficSecret {
  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    super(suite, bytes);
  }

  /** @internal used by HandshakeSecret only. */
  static fromDerive(suite: CipherSuiteInfo, bytes: Uint8Array): HandshakeTrafficSecret {
    return new HandshakeTrafficSecret(suite, bytes);
  }

  /**
   * Finished verify_data = HMAC(finished_key, Transcript-Hash(...)) where
   * finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (RFC 8446 4.4.4).
   */
  finishedVerifyData(transcriptHash: Uint8Array): Uint8Array {
    const finishedKey = this.expandLabel("finished", this.suite.hashLength);
    return hmac(this.suite.hash, finishedKey, transcriptHash);
  }
}

export class ApplicationTrafficSecret extends TrafficSecret {
  private constructor(suite: CipherSuiteInfo, bytes: Uint8Array) {
    super(suite, bytes);
  }

  /** @internal used by MasterSecret only. */
  static fromDerive(suite: CipherSuiteInfo, bytes: Uint8Array): ApplicationTrafficSecret {
    return new ApplicationTrafficSecret(suite, bytes);
  }

  /** application_traffic_secret_N+1 = HKDF-Expand-Label(N, "traffic upd", "", Hash.length). */
  next(): ApplicationTrafficSecret {
    return new ApplicationTrafficSecret(
      this.suite,
      this.expandLabel("traffic upd", this.suite.hashLength),
    );
  }
}

export type AnyTrafficSecret = HandshakeTrafficSecret | ApplicationTrafficSecret;
