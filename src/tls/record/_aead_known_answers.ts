/**
 * The self-test an AEAD implementation passes before it protects records (aead_backend.ts runs
 * it on libcrypto at start, per suite; the unit tests reuse its vectors):
 *
 * 1. Known answers, sealed byte for byte and opened: the client application data record of
 *    RFC 8448 section 3 (AES-128-GCM, nonce = the write IV at sequence 0), test case 16 of the
 *    GCM specification (McGrew and Viega, AES-256-GCM) and RFC 8439 section 2.8.2
 *    (ChaCha20-Poly1305).
 * 2. Fail closed: that record with one bit flipped in the tag, the ciphertext, the additional
 *    data or the nonce does not open.
 * 3. Agreement with the reference implementation (node:crypto) under a random key: records of
 *    0 to 2^14 + 256 bytes sealed by both are identical, and each opens the other's, several
 *    records per context (the per-record re-initialisation is what is tested).
 */

import type { AeadUse, RecordAead } from "./aead.ts";
import { type CipherSuiteInfo, IV_LENGTH, TAG_LENGTH } from "../cipher_suites.ts";
import { bytesEqual, fromHex } from "../codec.ts";

export interface AeadVector {
  readonly source: string;
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
  readonly plaintext: Uint8Array;
  /** Ciphertext || tag. */
  readonly sealed: Uint8Array;
}

const GCM_TEST_CASE_PLAINTEXT = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";

/** One known answer per AEAD, by its OpenSSL name (aeadName()). */
export const AEAD_VECTORS: Readonly<Record<string, AeadVector>> = {
  "AES-128-GCM": {
    source: "RFC 8448 section 3, {client} send application_data record",
    key: fromHex("17422dda596ed5d9acd890e3c63f5051"),
    nonce: fromHex("5b78923dee08579033e523d9"),
    aad: fromHex("1703030043"),
    // Application data 0x00..0x31, then the content type application_data (0x17).
    plaintext: fromHex(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
        "202122232425262728292a2b2c2d2e2f303117",
    ),
    sealed: fromHex(
      "a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5" +
        "b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4",
    ),
  },
  "AES-256-GCM": {
    source: "The Galois/Counter Mode of Operation (GCM), test case 16",
    key: fromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
    nonce: fromHex("cafebabefacedbaddecaf888"),
    aad: fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
    plaintext: fromHex(GCM_TEST_CASE_PLAINTEXT),
    sealed: fromHex(
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
  },
  "ChaCha20-Poly1305": {
    source: "RFC 8439 section 2.8.2",
    key: fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
    nonce: fromHex("070000004041424344454647"),
    aad: fromHex("50515253c0c1c2c3c4c5c6c7"),
    plaintext: new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the " +
        "future, sunscreen would be it.",
    ),
    sealed: fromHex(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6" +
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
        "3ff4def08e4b7a9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691",
    ),
  },
};

/** The record sizes (TLSInnerPlaintext lengths) of the round trip: edges and a full record. */
const SIZES = [0, 1, 15, 16, 17, 255, 4096 + 5, 16384 + 256];

export type AeadFactory = (key: Uint8Array, use: AeadUse) => RecordAead;

/** Seals `plaintext` with `aead` into a new array (ciphertext || tag). */
export function sealCopy(
  aead: RecordAead,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const buf = new Uint8Array(plaintext.length + TAG_LENGTH);
  buf.set(plaintext);
  aead.sealInPlace(nonce, aad, buf, 0, plaintext.length);
  return buf;
}

/**
 * Runs the self-test of `candidate` for `suite` against `reference`; returns what failed
 * first, or undefined when everything passed. Every AEAD it creates is disposed.
 */
export function checkAead(
  suite: CipherSuiteInfo,
  name: string,
  candidate: AeadFactory,
  reference: AeadFactory,
): string | undefined {
  const made: RecordAead[] = [];
  const make = (factory: AeadFactory, key: Uint8Array, use: AeadUse) => {
    const aead = factory(key, use);
    made.push(aead);
    return aead;
  };
  try {
    const v = AEAD_VECTORS[name];
    if (!v || v.key.length !== suite.keyLength) return `no known answer for ${name}`;
    return knownAnswer(v, make(candidate, v.key, "seal"), make(candidate, v.key, "open")) ??
      roundTrip(
        suite,
        (key, use) => make(candidate, key, use),
        (key, use) => make(reference, key, use),
      );
  } catch (err) {
    return `threw ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    for (const aead of made) aead.dispose();
  }
}

function knownAnswer(v: AeadVector, seal: RecordAead, open: RecordAead): string | undefined {
  if (!bytesEqual(sealCopy(seal, v.nonce, v.aad, v.plaintext), v.sealed)) {
    return `sealing the known answer (${v.source}) gave other bytes`;
  }
  const opened = open.open(v.nonce, v.aad, v.sealed);
  if (!opened || !bytesEqual(opened, v.plaintext)) {
    return `opening the known answer (${v.source}) failed`;
  }
  const flip = (bytes: Uint8Array, at: number) => {
    const copy = bytes.slice();
    copy[at] ^= 0x01;
    return copy;
  };
  const tampered: [string, Uint8Array | null][] = [
    ["tag", open.open(v.nonce, v.aad, flip(v.sealed, v.sealed.length - 1))],
    ["ciphertext", open.open(v.nonce, v.aad, flip(v.sealed, 0))],
    ["additional data", open.open(v.nonce, flip(v.aad, v.aad.length - 1), v.sealed)],
    ["nonce", open.open(flip(v.nonce, IV_LENGTH - 1), v.aad, v.sealed)],
  ];
  for (const [what, result] of tampered) {
    if (result !== null) return `a record with a tampered ${what} opened`;
  }
  return undefined;
}

function roundTrip(
  suite: CipherSuiteInfo,
  candidate: AeadFactory,
  reference: AeadFactory,
): string | undefined {
  const key = crypto.getRandomValues(new Uint8Array(suite.keyLength));
  const ours = { seal: candidate(key, "seal"), open: candidate(key, "open") };
  const theirs = { seal: reference(key, "seal"), open: reference(key, "open") };
  key.fill(0);
  for (const size of SIZES) {
    const nonce = crypto.getRandomValues(new Uint8Array(IV_LENGTH));
    const aad = crypto.getRandomValues(new Uint8Array(5));
    const plaintext = crypto.getRandomValues(new Uint8Array(size));
    const sealed = sealCopy(ours.seal, nonce, aad, plaintext);
    if (!bytesEqual(sealed, sealCopy(theirs.seal, nonce, aad, plaintext))) {
      return `a ${size}-byte record sealed differently from node:crypto`;
    }
    const back = theirs.open.open(nonce, aad, sealed);
    const opened = ours.open.open(nonce, aad, sealed);
    if (!back || !opened || !bytesEqual(opened, plaintext) || !bytesEqual(back, plaintext)) {
      return `a ${size}-byte record did not open to its plaintext`;
    }
  }
  return undefined;
}
