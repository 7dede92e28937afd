/**
 * PEM (RFC 7468) encoding and decoding. Tolerant of surrounding text (as in certificate files
 * with "Bag Attributes" lines), strict about the base64 inside a block.
 */

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
  /** Header lines inside the block (`Proc-Type: 4,ENCRYPTED` marks an encrypted legacy key). */
  readonly headers: Readonly<Record<string, string>>;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. Throws a SyntaxError for a block that is not base64. */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const headers: Record<string, string> = {};
    const body: string[] = [];
    for (const raw of m[2].split(/\r?\n/)) {
      const line = raw.trim();
      const h = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (h) headers[h[1]] = h[2];
      else if (line) body.push(line);
    }
    const b64 = body.join("");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new SyntaxError(`Cannot decode PEM block "${m[1]}": invalid base64`);
    }
    blocks.push({ label: m[1], der: base64Decode(b64), headers });
  }
  return blocks;
}

/** One PEM block with 64-character lines and a final newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = base64Encode(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function base64Encode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function base64Decode(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
