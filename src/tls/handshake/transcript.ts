/**
 * The transcript hash (RFC 8446 section 4.4.1): the hash of the concatenated handshake
 * messages (type, length and body, without record headers).
 *
 * The hash function is known only once the ServerHello (or HelloRetryRequest) chooses the
 * cipher suite, so messages are buffered until `selectHash` and hashed incrementally after.
 * The HelloRetryRequest rule: ClientHello1 is replaced by a synthetic message
 *
 *   message_hash (254) || 00 00 Hash.length || Hash(ClientHello1)
 *
 * before the HelloRetryRequest itself is added.
 *
 * TLS 1.2 signs the messages themselves, not their hash (RFC 5246 7.4.8 CertificateVerify):
 * `retainMessages()` keeps copies until `releaseMessages()`.
 */

import { createHash, type Hash } from "node:crypto";
import type { SuiteHash } from "../cipher_suites.ts";
import { concatBytes } from "../codec.ts";

/** HandshakeType message_hash (RFC 8446 section 4). */
const MESSAGE_HASH = 254;

export class Transcript {
  #pending: Uint8Array[] = [];
  #hash: Hash | undefined;
  #hashName: SuiteHash | undefined;
  #kept: Uint8Array[] | undefined;

  /** Adds a whole handshake message (header included). */
  add(message: Uint8Array): void {
    if (this.#hash) this.#hash.update(message);
    else this.#pending.push(message);
    this.#kept?.push(message);
  }

  /** Keeps the messages from now on, and those not hashed yet (call before selectHash). */
  retainMessages(): void {
    if (this.#hash) throw new Error("Transcript messages retained after the hash was chosen");
    this.#kept = [...this.#pending];
  }

  /** The retained messages, concatenated (RFC 5246 7.4.8 handshake_messages). */
  messages(): Uint8Array {
    if (!this.#kept) throw new Error("Transcript messages were not retained");
    return concatBytes(...this.#kept);
  }

  releaseMessages(): void {
    this.#kept = undefined;
  }

  get hashName(): SuiteHash | undefined {
    return this.#hashName;
  }

  /** Chooses the hash; buffered messages are hashed now. A second call must agree. */
  selectHash(hash: SuiteHash): void {
    if (this.#hashName) {
      if (this.#hashName !== hash) throw new Error("Transcript hash changed mid-handshake");
      return;
    }
    this.#hashName = hash;
    this.#hash = createHash(nodeName(hash));
    for (const m of this.#pending) this.#hash.update(m);
    this.#pending = [];
  }

  /**
   * Applies the HelloRetryRequest rule (RFC 8446 section 4.4.1): the transcript so far (which
   * must be exactly ClientHello1) is replaced by message_hash(Hash(ClientHello1)).
   */
  replaceWithMessageHash(hash: SuiteHash): void {
    if (this.#hash || this.#pending.length !== 1) {
      throw new Error("message_hash applies to a transcript holding only ClientHello1");
    }
    const digest = createHash(nodeName(hash)).update(this.#pending[0]).digest();
    const synthetic = new Uint8Array(4 + digest.length);
    synthetic[0] = MESSAGE_HASH;
    synthetic[3] = digest.length;
    synthetic.set(digest, 4);
    this.#pending = [synthetic];
    this.selectHash(hash);
  }

  /** Transcript-Hash of everything added so far. */
  digest(): Uint8Array {
    if (!this.#hash) throw new Error("Transcript hash used before the cipher suite was chosen");
    return new Uint8Array(this.#hash.copy().digest());
  }
}

function nodeName(hash: SuiteHash): string {
  return hash === "SHA-256" ? "sha256" : "sha384";
}
