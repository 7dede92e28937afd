/**
 * Verified server chains, remembered so that a reconnect to the same broker (which sends the
 * same chain every time) skips parsing and path validation. What a verification depends on is
 * exactly its inputs and the time, so an entry is found only when all of these agree:
 *
 *   - the trust store: the same TrustStore object (its anchors cannot change once built; a
 *     reloaded store is a new object, and entries live in a WeakMap keyed by it);
 *   - the server name: the same string;
 *   - the chain: byte for byte (a SHA-256 finds the entry, then every certificate is compared);
 *   - the time: inside the validity of every certificate on the verified path (the latest
 *     notBefore to the earliest notAfter), checked at each lookup.
 *
 * Only successful verifications are stored; anything else is verified in full and fails with
 * its own error. Each hit hands out copies, so a caller cannot change a stored result.
 */
import { createHash } from "node:crypto";
import { partsOf, type X509Certificate } from "./certificate.ts";
import { bytesEqual } from "./der.ts";
import type { TrustStore } from "./trust_store.ts";

/** What verifyServerChain() gives back (chain.ts). */
export interface VerifiedChain {
  leaf: X509Certificate;
  /** DER SubjectPublicKeyInfo of the leaf: the key for CertificateVerify. */
  leafSpki: Uint8Array;
  /** Leaf first, trust anchor last (one element when the leaf is itself an anchor). */
  path: X509Certificate[];
}

interface Entry {
  readonly serverName: string;
  readonly chain: readonly Uint8Array[];
  readonly result: VerifiedChain;
  /** The time window in which every certificate of the path is valid (ms since the epoch). */
  readonly from: number;
  readonly until: number;
}

/** Entries per trust store; the oldest goes first (a device talks to one or two brokers). */
const MAX_ENTRIES = 16;

const byStore = new WeakMap<TrustStore, Map<string, Entry>>();

function keyOf(serverName: string, chain: readonly Uint8Array[]): string {
  const h = createHash("sha256").update(serverName).update("\0");
  for (const der of chain) h.update(`${der.length}:`).update(der);
  return h.digest("hex");
}

function copy(r: VerifiedChain): VerifiedChain {
  return { leaf: r.leaf, leafSpki: r.leafSpki.slice(), path: [...r.path] };
}

/** A stored verification of exactly these inputs that is valid at `now`, or undefined. */
export function cachedVerification(
  store: TrustStore,
  serverName: string,
  chain: readonly Uint8Array[],
  now: Date,
): VerifiedChain | undefined {
  const entries = byStore.get(store);
  if (!entries) return undefined;
  const e = entries.get(keyOf(serverName, chain));
  if (!e || e.serverName !== serverName || e.chain.length !== chain.length) return undefined;
  if (!e.chain.every((der, i) => bytesEqual(der, chain[i]))) return undefined;
  const t = now.getTime();
  if (!(t >= e.from && t <= e.until)) return undefined;
  return copy(e.result);
}

/** Stores a successful verification of these inputs. */
export function rememberVerification(
  store: TrustStore,
  serverName: string,
  chain: readonly Uint8Array[],
  result: VerifiedChain,
): void {
  let entries = byStore.get(store);
  if (!entries) byStore.set(store, entries = new Map());
  const key = keyOf(serverName, chain);
  entries.delete(key);
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  const times = result.path.map(partsOf);
  entries.set(key, {
    serverName,
    chain: chain.map((der) => der.slice()),
    result: copy(result),
    from: Math.max(...times.map((p) => p.notBefore)),
    until: Math.min(...times.map((p) => p.notAfter)),
  });
}
