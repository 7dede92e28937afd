/**
 * nameConstraints (RFC 5280 4.2.1.10, 6.1.3 (b)-(c)) for the two name forms a TLS server is
 * known by: dNSName and iPAddress. A CA constraining any other form (directoryName, email,
 * URI, ...) is refused as unsupported rather than half-checked.
 *
 * DNS subtrees are names as RFC 5280 defines them: `example.com` covers itself and every name
 * made by adding labels on the left; the empty name covers everything. A subtree that is not a
 * well-formed name (a leading period as OpenSSL accepts, a wildcard, an empty label, ...) makes
 * the CA certificate invalid (hostname.ts dnsNameSyntaxError), whatever names lie below it.
 *
 * Work is bounded: a chain's constraint checks may compare at most NAME_COMPARISON_BUDGET
 * (name, subtree) pairs of the same form, counted before any comparison is made, so a CA with
 * thousands of subtrees above a leaf with thousands of names is refused in the time it takes
 * to count them. Go and rustls-webpki stop after 250 000 comparisons; 2^16 is less, and still
 * hundreds of times what a real path needs (a constrained CA lists tens of subtrees, a server
 * certificate tens of names).
 */
import type { NameConstraints, Subtree } from "./_extensions.ts";
import { dnsNameSyntaxError } from "./hostname.ts";

/** Name comparisons allowed for one verification (all CAs and candidate paths together). */
export const NAME_COMPARISON_BUDGET = 2 ** 16;

/** What is left of the budget of one verification; `exceeded` once a check did not fit. */
export interface ComparisonBudget {
  left: number;
  exceeded: boolean;
}

/** Names of one certificate that the constraints apply to. */
export interface ConstrainedNames {
  readonly dns: readonly string[];
  readonly ip: readonly Uint8Array[];
}

export type ConstraintResult =
  | { readonly ok: true }
  | {
    readonly ok: false;
    /** Why the CA itself cannot be used: a form we do not check, or a malformed subtree. */
    readonly unusable?: "unsupported" | "malformed" | "budget";
    readonly reason: string;
  };

/**
 * Whether the CA's constraints can be used at all: every subtree is a dNSName or iPAddress
 * form, and every dNSName subtree is well formed.
 */
export function checkConstraintForms(nc: NameConstraints): ConstraintResult {
  const all = [...(nc.permitted ?? []), ...(nc.excluded ?? [])];
  const other = all.find((s) => s.form !== 2 && s.form !== 7);
  if (other) {
    return {
      ok: false,
      unusable: "unsupported",
      reason: `on ${FORMS[other.form] ?? `form ${other.form}`} names, which are not supported`,
    };
  }
  for (const s of all) {
    const why = s.dns === undefined ? undefined : dnsNameSyntaxError(s.dns, "constraint");
    if (why) {
      return {
        ok: false,
        unusable: "malformed",
        reason: `with a malformed DNS subtree "${s.dns}": ${why}`,
      };
    }
    if (s.ipRange && !contiguousMask(s.ipRange.subarray(s.ipRange.length / 2))) {
      return {
        ok: false,
        unusable: "malformed",
        reason: "with a malformed IP subtree: its mask is not a prefix length (CIDR)",
      };
    }
  }
  return { ok: true };
}

/** Whether `mask` is ones then zeros (RFC 4632 prefix form, as RFC 5280 4.2.1.10 means). */
function contiguousMask(mask: Uint8Array): boolean {
  let zero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1;
      if (one && zero) return false;
      if (!one) zero = true;
    }
  }
  return true;
}

/**
 * The comparisons checking `names` against `nc` takes: each name against each subtree of its
 * own form.
 */
export function comparisonsNeeded(nc: NameConstraints, names: ConstrainedNames): number {
  const all = [...(nc.permitted ?? []), ...(nc.excluded ?? [])];
  const dns = all.filter((s) => s.dns !== undefined).length;
  const ip = all.filter((s) => s.ipRange !== undefined).length;
  return names.dns.length * dns + names.ip.length * ip;
}

/**
 * Checks `names` against `nc` (whose forms checkConstraintForms accepted), charging `budget`
 * first; the reason says which name broke which rule, or that the budget would be exceeded.
 */
export function checkNameConstraints(
  nc: NameConstraints,
  names: ConstrainedNames,
  budget: ComparisonBudget,
): ConstraintResult {
  const cost = comparisonsNeeded(nc, names);
  if (cost > budget.left) {
    budget.exceeded = true;
    return {
      ok: false,
      unusable: "budget",
      reason: `that would take ${cost} name comparisons to check, more than the ` +
        `${budget.left} left of the ${NAME_COMPARISON_BUDGET} allowed for a chain`,
    };
  }
  budget.left -= cost;
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
  const permittedIp = (nc.permitted ?? []).filter((s) => s.ipRange);
  const excludedIp = (nc.excluded ?? []).filter((s) => s.ipRange);
  for (const addr of names.ip) {
    if (permittedIp.length && !permittedIp.some((s) => ipWithin(addr, s))) {
      return refuse(`an IP address is outside its permitted IP ranges`);
    }
    if (excludedIp.some((s) => ipWithin(addr, s))) {
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
  return { ok: false, reason };
}

/**
 * Whether every host `name` can stand for lies in the subtree: `example.com` covers itself and
 * its subdomains, "" everything. A wildcard name is compared literally, which gives the right
 * answer for the labels it covers.
 */
function dnsWithin(name: string, s: Subtree): boolean {
  const c = s.dns!.toLowerCase();
  if (c === "") return true;
  return name === c || name.endsWith(`.${c}`);
}

/** Whether some host `name` stands for lies in the subtree (for excluded subtrees). */
function dnsMayMatch(name: string, s: Subtree): boolean {
  if (dnsWithin(name, s)) return true;
  if (!name.startsWith("*.")) return false;
  // `*.example.com` also covers `bad.example.com`, a single label above its base.
  const base = name.slice(2);
  const c = s.dns!.toLowerCase();
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
