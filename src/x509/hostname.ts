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
 * - No common-name fallback (RFC 9525 drops the CN-ID; so do Go, rustls and browsers): a certificate without a
 *   subjectAltName extension (which includes every version 1 or 2 certificate) is valid for no
 *   name at all, whatever its subject CN says. verifyServerChain() says so and how to reissue.
 *   The CN is never compared with anything, so it need not repeat a SAN entry (CA/Browser Forum
 *   7.1.4.3 asks CAs for that; nothing is gained by refusing a private broker's CN such as
 *   "Mosquitto Broker").
 * - Presented names must be well formed (dnsNameSyntaxError): a malformed dNSName makes the
 *   certificate invalid rather than merely unmatched (RFC 5280 4.2.1.6: preferred name syntax).
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
 * Whether one certificate name (a dNSName entry) matches `host`, a DNS name already normalised
 * by parseServerName.
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
  return san?.dns.some((p) => matchesDnsPattern(p, ref.name)) ?? false;
}

/** The host names a certificate is valid for, for messages: its SAN DNS names and IP addresses. */
export function certificateHostNames(cert: X509Certificate): string[] {
  const san = partsOf(cert).extensions.subjectAltName;
  return san ? [...san.dns, ...san.ip.map(formatIp)] : [];
}

/**
 * Why `name` is not a well-formed DNS name (RFC 1034 3.5 preferred name syntax as relaxed by
 * RFC 1123 2.1), or undefined when it is one. `role` "presented": a subjectAltName dNSName,
 * where a whole left-most `*` label is allowed (a wildcard; partial-label wildcards are not
 * names); "constraint": a nameConstraints dNSName subtree, where the empty name (every name)
 * is allowed and a wildcard is not. A leading period (the form of URI and e-mail constraints,
 * which OpenSSL also takes for DNS) is refused in both, as RFC 5280 4.2.1.10 defines none.
 * Letters are compared case-insensitively elsewhere, so both cases are allowed; so is `_`, which
 * real host names (and parseServerName) use. A trailing period is refused: certificates carry
 * names without the root label.
 */
export function dnsNameSyntaxError(
  name: string,
  role: "presented" | "constraint",
): string | undefined {
  if (name === "") return role === "constraint" ? undefined : "it is empty";
  if (name.length > 253) return `it is ${name.length} characters long, more than 253`;
  if (name.startsWith(".")) return "it starts with a period";
  if (name.endsWith(".")) return "it ends with a period";
  const labels = name.split(".");
  if (name === "*" && role === "presented") return "it is a wildcard for no domain";
  for (const [i, label] of labels.entries()) {
    if (label === "") return "it has an empty label";
    if (label.length > 63) return `it has a label of ${label.length} characters, more than 63`;
    if (label === "*" && i === 0 && role === "presented") continue;
    if (!LABEL.test(label.toLowerCase())) {
      return label.includes("*")
        ? "it has a wildcard that is not the whole left-most label"
        : `its label "${label}" has characters other than letters, digits, "-" and "_", or ` +
          `starts or ends with "-"`;
    }
  }
  return undefined;
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
