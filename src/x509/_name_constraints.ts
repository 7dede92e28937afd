/**
 * nameConstraints (RFC 5280 4.2.1.10, 6.1.3 (b)-(c)) for the two name forms a TLS server is
 * known by: dNSName and iPAddress. A CA constraining any other form (directoryName, email,
 * URI, ...) is refused as unsupported rather than half-checked.
 */
import type { NameConstraints, Subtree } from "./_extensions.ts";

/** Names of one certificate that the constraints apply to. */
export interface ConstrainedNames {
  readonly dns: readonly string[];
  readonly ip: readonly Uint8Array[];
}

export type ConstraintResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly unsupported: boolean; readonly reason: string };

/** Checks `names` against `nc`; the reason says which name broke which rule. */
export function checkNameConstraints(
  nc: NameConstraints,
  names: ConstrainedNames,
): ConstraintResult {
  const all = [...(nc.permitted ?? []), ...(nc.excluded ?? [])];
  const other = all.find((s) => s.form !== 2 && s.form !== 7);
  if (other) {
    return {
      ok: false,
      unsupported: true,
      reason: `on ${FORMS[other.form] ?? `form ${other.form}`} names, which are not supported`,
    };
  }
  const permittedDns = (nc.permitted ?? []).filter((s) => s.dns !== undefined);
  const excludedDns = (nc.excluded ?? []).filter((s) => s.dns !== undefined);
  for (const raw of names.dns) {
    const name = raw.toLowerCase().replace(/\.$/, "");
    if (permittedDns.length && !permittedDns.some((s) => dnsWithin(name, s))) {
      return refuse(`the name ${raw} is outside its permitted DNS subtrees`);
    }
    const hit = excludedDns.find((s) => dnsMayMatch(name, s));
    if (hit) return refuse(`the name ${raw} is in its excluded DNS subtree ${hit.dns}`);
  }
  for (const addr of names.ip) {
    const permitted = (nc.permitted ?? []).filter((s) => s.ipRange);
    if (permitted.length && !permitted.some((s) => ipWithin(addr, s))) {
      return refuse(`an IP address is outside its permitted IP ranges`);
    }
    if ((nc.excluded ?? []).some((s) => s.ipRange && ipWithin(addr, s))) {
      return refuse(`an IP address is in its excluded IP ranges`);
    }
  }
  return { ok: true };
}

const FORMS: Record<number, string> = {
  0: "otherName",
  1: "rfc822Name",
  3: "x400Address",
  4: "directoryName",
  5: "ediPartyName",
  6: "uniformResourceIdentifier",
  8: "registeredID",
};

function refuse(reason: string): ConstraintResult {
  return { ok: false, unsupported: false, reason };
}

/**
 * Whether every host `name` can stand for lies in the subtree: `example.com` covers itself and
 * its subdomains, `.example.com` only subdomains (a common extension), "" everything. A
 * wildcard name is compared literally, which gives the right answer for the labels it covers.
 */
function dnsWithin(name: string, s: Subtree): boolean {
  const c = s.dns!.toLowerCase();
  if (c === "") return true;
  if (c.startsWith(".")) return name.endsWith(c);
  return name === c || name.endsWith(`.${c}`);
}

/** Whether some host `name` stands for lies in the subtree (for excluded subtrees). */
function dnsMayMatch(name: string, s: Subtree): boolean {
  if (dnsWithin(name, s)) return true;
  if (!name.startsWith("*.")) return false;
  // `*.example.com` also covers `bad.example.com`, a single label above its base.
  const base = name.slice(2);
  const c = s.dns!.toLowerCase().replace(/^\./, "");
  return c.endsWith(`.${base}`) && !c.slice(0, -(base.length + 1)).includes(".");
}

function ipWithin(addr: Uint8Array, s: Subtree): boolean {
  const range = s.ipRange!;
  const n = range.length / 2;
  if (addr.length !== n) return false;
  for (let i = 0; i < n; i++) {
    if ((addr[i] & range[n + i]) !== (range[i] & range[n + i])) return false;
  }
  return true;
}
