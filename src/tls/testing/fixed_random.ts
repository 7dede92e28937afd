/** Fixed randomness for byte-exact tests (RFC 8448): a RandomSource that replays a pool. */

import type { RandomSource } from "../random.ts";

/** A source that replays `pool` and throws when it runs dry (for byte-exact tests). */
export function fixedRandom(pool: Uint8Array): RandomSource {
  let at = 0;
  return {
    bytes(length: number): Uint8Array {
      if (at + length > pool.length) {
        throw new RangeError(
          `Random pool exhausted: ${length} bytes wanted, ${pool.length - at} left`,
        );
      }
      const out = pool.slice(at, at + length);
      at += length;
      return out;
    },
  };
}
