/**
 * Server identity check (RFC 9525, which obsoletes RFC 6125).
 *
 * - A DNS name is compared with the subjectAltName dNSName entries, case-insensitively, a
 *   trailing dot ignored. A wildcard is honoured only as the whole left-most label of a name
 *   with at least three labels (`*.example.com`), and stands for exactly one label: it matches
 *   `a.example.com`, not `a.b.example.com` nor `example.com`. Partial-label wildcards (`f*.com`,
 *   `a*b.example.com`) and wildcards elsewhere never match (RFC 9525 6.3).
 * - An IP address (v4 or v6) is compared byte for byte with the iPAddress entries only; never
 *   with DNS entries or the common name (RFC 9525 6.2.1).
 * - Common-name fallback: only when the certificate has no subjectAltName extension at all,
 *   each CN of the subject is treated like a dNSName entry (same wildcard rules), for DNS names
 *   only. RFC 9525 drops the fallback and Go and rustls have removed it, but OpenSSL-based
 *   clients (mosquitto, thin-edge's own bridge) still accept such certificates, and private
 *   brokers made with `openssl req -subj /CN=host` are what a drop-in replacement meets.
 *   A certificate that has a SAN, even one without any DNS name, never falls back.
 */
import { bytesEqual } from "./der.ts";
import { partsOf, type X509Certificate } from "./certificate.ts";

/** A reference identifier: a normalised DNS name or the bytes of an IP address. */
export type ServerName =
  | { readonly kind: "dns"; readonly name: string }
  | { readonly kind: "ip"; readonly bytes: Uint8Array };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Parses what a user gives as the server's name: an IPv4 literal, an IPv6 literal (brackets
 * allowed, zone ids not), or a DNS name (lower-cased, one trailing dot removed). Null when it
 * is none of these; a name whose last label is numeric is not taken as a DNS name.
 */
export function parseServerName(text: string): ServerName | null {
  const ip = parseIp(text);
  if (ip) return { kind: "ip", bytes: ip };
  const name = normaliseDns(text);
  if (!name || /^[0-9]+$/.test(name.slice(name.lastIndexOf(".") + 1))) return null;
  return name.split(".").every((l) => LABEL.test(l)) ? { kind: "dns", name } : null;
}

function normaliseDns(text: string): string {
  const lower = text.toLowerCase();
  const name = lower.endsWith(".") ? lower.slice(0, -1) : lower;
  return name.length > 253 ? "" : name;
}

/**
 * Whether one certificate name (a dNSName entry or, in the fallback, a CN) matches `host`, a
 * DNS name already normalised by parseServerName.
 */
export function matchesDnsPattern(pattern: string, host: string): boolean {
  const p = normaliseDns(pattern);
  if (!p) return false;
  if (!p.includes("*")) return p === host;
  const labels = p.split(".");
  // The wildcard must be the whole left-most label, alone, above at least two labels
  // ("*.com" would cover a whole top-level domain).
  if (labels[0] !== "*" || labels.length < 3 || labels.slice(1).some((l) => !LABEL.test(l))) {
    return false;
  }
  const hostLabels = host.split(".");
  return hostLabels.length === labels.length && hostLabels[0].length > 0 &&
    hostLabels.slice(1).join(".") === labels.slice(1).join(".");
}

/** Whether `cert` is valid for `serverName` (a DNS name or an IP literal); see the file comment. */
export function matchesServerName(cert: X509Certificate, serverName: string): boolean {
  const ref = parseServerName(serverName);
  if (!ref) return false;
  const san = partsOf(cert).extensions.subjectAltName;
  if (ref.kind === "ip") return san?.ip.some((b) => bytesEqual(b, ref.bytes)) ?? false;
  if (san) return san.dns.some((p) => matchesDnsPattern(p, ref.name));
  return cert.commonNames.some((cn) => matchesDnsPattern(cn, ref.name));
}

/**
 * The host names a certificate is valid for, for messages: the SAN DNS names and IP addresses,
 * or the common names marked as such when the fallback applies.
 */
export function certificateHostNames(cert: X509Certificate): string[] {
  const san = partsOf(cert).extensions.subjectAltName;
  if (san) return [...san.dns, ...san.ip.map(formatIp)];
  return cert.commonNames.map((cn) => `${cn} (common name)`);
}

/** IPv4 dotted quad (no leading zeros) or IPv6 (RFC 4291 2.2) to bytes; null otherwise. */
export function parseIp(text: string): Uint8Array | null {
  return parseIpv4(text) ?? parseIpv6(text);
}

function parseIpv4(text: string): Uint8Array | null {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return null;
  const bytes = m.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
}

function parseIpv6(input: string): Uint8Array | null {
  let text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input;
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let v4: Uint8Array | null = null;
  const last = text.lastIndexOf(":");
  if (text.includes(".")) {
    v4 = parseIpv4(text.slice(last + 1));
    if (!v4) return null;
    text = text.slice(0, last + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : null;
  const all = [...head, ...(tail ?? [])];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  if (tail ? all.length > 7 : all.length !== 8) return null;
  const words = [
    ...head.map(hexWord),
    ...new Array(8 - all.length).fill(0),
    ...(tail ?? []).map(hexWord),
  ];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

function hexWord(g: string): number {
  return parseInt(g, 16);
}

/** Text form of an IP address: dotted quad, or RFC 5952 IPv6 (longest zero run as `::`). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hexs = words.map((w) => w.toString(16));
  if (best < 0) return hexs.join(":");
  return `${hexs.slice(0, best).join(":")}::${hexs.slice(best + bestLen).join(":")}`;
}
