/**
 * MQTT packets written byte by byte, for tests and the bench's load generator: independent of
 * src/mqtt's encoder, so tests of our decoder do not check it against itself.
 */

/** MQTT "Variable Byte Integer" remaining length (3.1.1 section 2.2.3). */
export function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}
