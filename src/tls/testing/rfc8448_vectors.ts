/**
 * Test-only: the RFC 8448 traces of tests/testdata/rfc8448/transcripts.vec (in the checkout) as
 * `{ section: { key: bytes } }` (see that directory's README for what each key means and where
 * the file comes from).
 */

import { fromHex } from "../codec.ts";

export const RFC8448_PATH =
  new URL("../../../tests/testdata/rfc8448/transcripts.vec", import.meta.url).pathname;

export type Rfc8448Section = Record<string, Uint8Array>;

let cache: Record<string, Rfc8448Section> | undefined;

export function rfc8448(section: string): Rfc8448Section {
  cache ??= parse(Deno.readTextFileSync(RFC8448_PATH));
  const s = cache[section];
  if (!s) throw new Error(`No section [${section}] in ${RFC8448_PATH}`);
  return s;
}

function parse(text: string): Record<string, Rfc8448Section> {
  const out: Record<string, Rfc8448Section> = {};
  let current: Rfc8448Section | undefined;
  for (const line of text.split("\n")) {
    const head = line.match(/^\[(.+)\]\s*$/);
    if (head) {
      current = out[head[1]] = {};
      continue;
    }
    // Some values in the file are broken by stray spaces; hex digits are what counts.
    const kv = line.match(/^([A-Za-z0-9_]+) = ([0-9A-Fa-f ]*)$/);
    const hex = kv?.[2].replace(/ /g, "");
    if (kv && current && hex!.length % 2 === 0) current[kv[1]] = fromHex(hex!);
  }
  return out;
}

/** Splits concatenated handshake messages into whole messages (type + length + body). */
export function splitHandshakeMessages(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const len = (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
    out.push(bytes.slice(at, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Splits concatenated records. */
export function splitRecords(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const len = (bytes[at + 3] << 8) | bytes[at + 4];
    out.push(bytes.slice(at, at + 5 + len));
    at += 5 + len;
  }
  return out;
}
