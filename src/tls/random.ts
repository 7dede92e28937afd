/**
 * Where the client's random bytes come from: the ClientHello random, the legacy session id and
 * the key share private keys are drawn from it, in that order. The default is the system CSPRNG;
 * tests inject a fixed pool to reproduce RFC 8448 byte for byte.
 */

export interface RandomSource {
  /** Returns `length` fresh random bytes. */
  bytes(length: number): Uint8Array;
}

/** crypto.getRandomValues, in chunks of at most 65536 bytes (its per-call limit). */
export const systemRandom: RandomSource = {
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += 65536) {
      crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
    }
    return out;
  },
};
