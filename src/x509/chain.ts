/**
 * Server certificate chain verification for a TLS client: RFC 5280 section 6.1, simplified
 * (no policies, no revocation), with path building (RFC 4158 in spirit).
 *
 *   1. Decode every certificate the server sent (strict DER).
 *   2. Check the leaf on its own: dates, critical extensions, key, key identifiers, DNS names,
 *      keyUsage, extendedKeyUsage.
 *   3. Build a path leaf -> intermediates (from the sent chain, any order) -> trust anchor,
 *      depth first, anchors tried before intermediates. Each step checks the issuer's
 *      signature on the child, then the issuer itself (dates, serial number, subject,
 *      basicConstraints cA, pathLenConstraint, keyUsage keyCertSign, extendedKeyUsage,
 *      nameConstraints). A failed candidate is remembered and the next one tried; when none
 *      succeeds, the failure that got furthest is reported.
 *   4. Check that the leaf is an end-entity certificate (_profile.ts), unless it is itself a
 *      trust anchor.
 *   5. Match the server name against the leaf's subjectAltName (hostname.ts; never the CN).
 *
 * The work a hostile chain can cause is bounded: at most MAX_CHAIN_CERTIFICATES decoded,
 * MAX_SIGNATURE_CHECKS signatures checked and NAME_COMPARISON_BUDGET name-constraint
 * comparisons (_name_constraints.ts), counted before they are made; reaching a bound ends the
 * search with an error.
 *
 * A successful verification is remembered (_chain_cache.ts) and reused for the same trust
 * store, server name and chain bytes while every certificate on the path is valid.
 *
 * A certificate that is itself in the trust store ends the path: the leaf may be an anchor.
 * Trust anchors are held to the same checks as intermediates (as OpenSSL and Go do), except
 * that a version 1 anchor needs no basicConstraints.
 *
 * Simplifications, on purpose: issuer and subject names are compared byte for byte (as Go
 * does) rather than with the RFC 5280 7.1 string preparation; there is no revocation checking
 * (no CRL or OCSP fetching on a device), so `certificate_revoked` is never produced; no policy
 * processing (see _extensions.ts for why a critical certificatePolicies is still accepted).
 */
import { checkCa, checkCertificate, checkLeafUsage } from "./_checks.ts";
import { type ComparisonBudget, NAME_COMPARISON_BUDGET } from "./_name_constraints.ts";
import { checkEndEntity, checkSerialNumber } from "./_profile.ts";
import {
  describe,
  parseCertificate,
  partsOf,
  spkiOf,
  type X509Certificate,
} from "./certificate.ts";
import { CertificateError } from "./errors.ts";
import { certificateHostNames, formatIp, matchesServerName, parseServerName } from "./hostname.ts";
import {
  keyLabel,
  label,
  publicKeyInfo,
  signatureAlgorithm,
  UnsupportedAlgorithmError,
  verifySignature,
} from "./signature.ts";
import { sameCertificate, type TrustStore } from "./trust_store.ts";
import { bytesEqual } from "./der.ts";
import { cachedVerification, rememberVerification, type VerifiedChain } from "./_chain_cache.ts";

export type { VerifiedChain };

/** Longest path accepted, leaf and anchor included. */
export const MAX_PATH_LENGTH = 8;
/** Most certificates accepted from the server. */
export const MAX_CHAIN_CERTIFICATES = 16;
/** Signature checks per verification: bounds the work a hostile chain can cause. */
const MAX_SIGNATURE_CHECKS = 64;

export interface VerifyServerChainOptions {
  /** DER certificates as the server sent them, leaf first. */
  chain: Uint8Array[];
  /** The DNS name or IP literal the client connected to. */
  serverName: string;
  trustStore: TrustStore;
  now?: Date;
}

/**
 * Verifies a server's chain for `serverName`. Throws CertificateError naming the certificate
 * at fault and what was wrong; `alert` is the TLS alert to send. Throws TypeError for a
 * `serverName` that is neither a DNS name nor an IP literal.
 */
export async function verifyServerChain(opts: VerifyServerChainOptions): Promise<VerifiedChain> {
  if (!parseServerName(opts.serverName)) {
    throw new TypeError(
      `Invalid server name "${opts.serverName}": expected a DNS name or an IP address`,
    );
  }
  const now = opts.now ?? new Date();
  const { trustStore, serverName, chain } = opts;
  const known = cachedVerification(trustStore, serverName, chain, now);
  if (known) return known;
  const result = await verifyInFull(opts, now);
  rememberVerification(trustStore, serverName, chain, result);
  return result;
}

async function verifyInFull(opts: VerifyServerChainOptions, now: Date): Promise<VerifiedChain> {
  const n = opts.chain.length;
  if (n === 0) throw new CertificateError("decode_error", "", "chain from the server is empty");
  if (n > MAX_CHAIN_CERTIFICATES) {
    throw new CertificateError(
      "bad_certificate",
      "",
      `chain from the server has ${n} certificates, more than the ${MAX_CHAIN_CERTIFICATES} accepted`,
    );
  }
  const certs = opts.chain.map((der, i) =>
    parseCertificate(der, `number ${i + 1} of ${n} in the chain`)
  );
  const leaf = certs[0];
  checkCertificate(leaf, now);
  checkLeafUsage(leaf);
  // A leaf that is itself a trust anchor (a pinned certificate) is trusted as the user gave it.
  const pinned = opts.trustStore.contains(leaf);
  const path = pinned ? [leaf] : await buildPath(leaf, certs, opts.trustStore, now);
  if (!pinned) checkEndEntity(leaf);
  if (!matchesServerName(leaf, opts.serverName)) throw nameMismatch(leaf, opts.serverName);
  return { leaf, leafSpki: spkiOf(leaf), path };
}

/** Step 5 failed: which names the certificate has, or how to reissue one that has none. */
function nameMismatch(leaf: X509Certificate, serverName: string): CertificateError {
  if (!partsOf(leaf).extensions.subjectAltName) {
    const ref = parseServerName(serverName)!;
    const entry = ref.kind === "ip" ? `IP:${formatIp(ref.bytes)}` : `DNS:${ref.name}`;
    return new CertificateError(
      "bad_certificate",
      describe(leaf),
      `is not valid for any server name: it has no subjectAltName extension, and the subject ` +
        `common name is not used for names (RFC 9525); reissue it with the host name in ` +
        `subjectAltName, e.g. openssl's -addext "subjectAltName=${entry}"`,
    );
  }
  const names = certificateHostNames(leaf);
  return new CertificateError(
    "bad_certificate",
    describe(leaf),
    `is not valid for "${serverName}": ` +
      (names.length
        ? `names in the certificate: ${names.join(", ")}`
        : "the certificate names no host"),
  );
}

interface Search {
  readonly store: TrustStore;
  readonly sent: readonly X509Certificate[];
  readonly now: Date;
  checks: number;
  readonly budget: ComparisonBudget;
  /** The failure of the longest attempted path. */
  best?: { depth: number; error: CertificateError };
}

async function buildPath(
  leaf: X509Certificate,
  sent: X509Certificate[],
  store: TrustStore,
  now: Date,
): Promise<X509Certificate[]> {
  const s: Search = {
    store,
    sent: sent.slice(1),
    now,
    checks: 0,
    budget: { left: NAME_COMPARISON_BUDGET, exceeded: false },
  };
  const path = await extend([leaf], s);
  if (path) return path;
  throw s.best!.error;
}

function remember(s: Search, depth: number, error: CertificateError): void {
  if (!s.best || depth > s.best.depth) s.best = { depth, error };
}

/** Depth-first search for an anchor above the last certificate of `path`. */
async function extend(path: X509Certificate[], s: Search): Promise<X509Certificate[] | null> {
  const child = path[path.length - 1];
  if (path.length >= MAX_PATH_LENGTH) {
    remember(
      s,
      path.length,
      new CertificateError(
        "certificate_unknown",
        describe(path[0]),
        `has no path to a trust anchor within ${MAX_PATH_LENGTH} certificates`,
      ),
    );
    return null;
  }
  const anchors = s.store.issuersOf(child);
  const sent = s.sent.filter((c) =>
    isCandidateIssuer(c, child) && !s.store.contains(c) && !path.some((p) => sameCertificate(p, c))
  );
  const candidates = [
    ...anchors.filter((a) => keyIdsAgree(a, child)).map((c) => ({ c, anchor: true })),
    ...unique(sent).map((c) => ({ c, anchor: false })),
  ];
  if (candidates.length === 0) {
    remember(s, path.length, unknownIssuer(child, s.store));
    return null;
  }
  for (const { c, anchor } of candidates) {
    const error = await checkIssuer(c, path, anchor, s);
    if (error) {
      remember(s, path.length, error);
      continue;
    }
    if (anchor) return [...path, c];
    const found = await extend([...path, c], s);
    if (found) return found;
  }
  return null;
}

function isCandidateIssuer(issuer: X509Certificate, child: X509Certificate): boolean {
  return bytesEqual(partsOf(issuer).subject, partsOf(child).issuer) && keyIdsAgree(issuer, child);
}

/** RFC 5280 4.2.1.1: when both identifiers are present they must agree. */
function keyIdsAgree(issuer: X509Certificate, child: X509Certificate): boolean {
  const aki = partsOf(child).extensions.authorityKeyId;
  const ski = partsOf(issuer).extensions.subjectKeyId;
  return !aki || !ski || bytesEqual(aki, ski);
}

function unique(certs: X509Certificate[]): X509Certificate[] {
  return certs.filter((c, i) => certs.findIndex((d) => sameCertificate(c, d)) === i);
}

function unknownIssuer(cert: X509Certificate, store: TrustStore): CertificateError {
  const { issuer, subject } = partsOf(cert);
  const why = bytesEqual(issuer, subject)
    ? `is not trusted: it is self-signed and not in the trust store ${store.describe()}`
    : `is not trusted: no issuer found in the trust store ${store.describe()}: ` +
      `issued by "${cert.issuer}"`;
  return new CertificateError("unknown_ca", describe(cert), why);
}

/**
 * Whether `issuer` can be the next certificate above `path` (leaf first): its signature on the
 * child, then the issuer's own checks. Returns the failure, or undefined when it fits.
 */
async function checkIssuer(
  issuer: X509Certificate,
  path: X509Certificate[],
  anchor: boolean,
  s: Search,
): Promise<CertificateError | undefined> {
  const child = path[path.length - 1];
  // Not a property of this candidate: the whole search stops (thrown, not remembered).
  if (++s.checks > MAX_SIGNATURE_CHECKS) {
    throw new CertificateError(
      "certificate_unknown",
      describe(path[0]),
      `has too many candidate issuers (over ${MAX_SIGNATURE_CHECKS} signatures checked)`,
    );
  }
  try {
    await checkSignature(child, issuer);
    checkCertificate(issuer, s.now);
    if (!anchor) checkSerialNumber(issuer);
    checkCa(issuer, path, anchor, s.budget);
  } catch (e) {
    // A spent name-constraint budget, like the signature limit, ends the whole search.
    if (e instanceof CertificateError && !s.budget.exceeded) return e;
    throw e;
  }
}

/** RFC 5280 6.1.3 (a)(1): the child's signature verifies with the issuer's public key. */
async function checkSignature(child: X509Certificate, issuer: X509Certificate): Promise<void> {
  const parts = partsOf(child);
  let alg;
  try {
    alg = signatureAlgorithm(parts.signatureAlgorithm);
  } catch (e) {
    const unsupported = e instanceof UnsupportedAlgorithmError;
    const why = `has an unusable signature algorithm: ${(e as Error).message}`;
    const alert = unsupported ? "unsupported_certificate" : "bad_certificate";
    throw new CertificateError(alert, describe(child), why, { cause: e });
  }
  const issuerSpki = partsOf(issuer).spki;
  let ok: boolean;
  try {
    ok = await verifySignature(alg, issuerSpki, parts.tbs, parts.signature);
  } catch (e) {
    const why = `has an unsupported public key: ${(e as Error).message}`;
    throw new CertificateError("unsupported_certificate", describe(issuer), why, { cause: e });
  }
  if (!ok) {
    const key = keyLabel(publicKeyInfo(issuerSpki));
    const why = `has a signature (${label(alg)}) that does not verify with the key of ` +
      `"${describe(issuer)}" (${key})`;
    throw new CertificateError("bad_certificate", describe(child), why);
  }
}
