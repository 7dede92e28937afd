/**
 * Server certificate chain verification for a TLS client: RFC 5280 section 6.1, simplified
 * (no policies, no revocation), with path building (RFC 4158 in spirit).
 *
 *   1. Decode every certificate the server sent (strict DER).
 *   2. Check the leaf on its own: dates, critical extensions, key, keyUsage, extendedKeyUsage.
 *   3. Build a path leaf -> intermediates (from the sent chain, any order) -> trust anchor,
 *      depth first, anchors tried before intermediates. Each step checks the issuer's
 *      signature on the child, then the issuer itself (dates, basicConstraints cA,
 *      pathLenConstraint, keyUsage keyCertSign, extendedKeyUsage, nameConstraints). A failed
 *      candidate is remembered and the next one tried; when none succeeds, the failure that got
 *      furthest is reported.
 *   4. Match the server name against the leaf (hostname.ts).
 *
 * A certificate that is itself in the trust store ends the path: the leaf may be an anchor.
 * Trust anchors are held to the same checks as intermediates (as OpenSSL and Go do), except
 * that a version 1 anchor needs no basicConstraints.
 */
import { hasKeyUsage, KeyUsageBit, OID } from "./_extensions.ts";
import { checkNameConstraints, type ConstrainedNames } from "./_name_constraints.ts";
import {
  describe,
  parseCertificate,
  partsOf,
  spkiOf,
  type X509Certificate,
} from "./certificate.ts";
import { CertificateError } from "./errors.ts";
import { certificateHostNames, matchesServerName, parseServerName } from "./hostname.ts";
import {
  checkKeyStrength,
  keyLabel,
  label,
  publicKeyInfo,
  signatureAlgorithm,
  UnsupportedAlgorithmError,
  verifySignature,
} from "./signature.ts";
import { sameCertificate, type TrustStore } from "./trust_store.ts";
import { bytesEqual } from "./_der.ts";

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

export interface VerifiedChain {
  leaf: X509Certificate;
  /** DER SubjectPublicKeyInfo of the leaf: the key for CertificateVerify. */
  leafSpki: Uint8Array;
  /** Leaf first, trust anchor last (one element when the leaf is itself an anchor). */
  path: X509Certificate[];
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
  const path = opts.trustStore.contains(leaf)
    ? [leaf]
    : await buildPath(leaf, certs, opts.trustStore, now);
  if (!matchesServerName(leaf, opts.serverName)) {
    const names = certificateHostNames(leaf);
    throw new CertificateError(
      "bad_certificate",
      describe(leaf),
      `is not valid for "${opts.serverName}": ` +
        (names.length
          ? `names in the certificate: ${names.join(", ")}`
          : "the certificate names no host"),
    );
  }
  return { leaf, leafSpki: spkiOf(leaf), path };
}

/** Checks every certificate on a path needs: validity dates, critical extensions, its key. */
export function checkCertificate(cert: X509Certificate, now: Date): void {
  const subject = describe(cert);
  if (now < cert.notBefore) {
    throw new CertificateError(
      "certificate_expired",
      subject,
      `is not valid before ${isoDate(cert.notBefore)} (now ${isoDate(now)})`,
    );
  }
  if (now > cert.notAfter) {
    throw new CertificateError(
      "certificate_expired",
      subject,
      `expired on ${isoDate(cert.notAfter)}`,
    );
  }
  const { extensions, spki } = partsOf(cert);
  if (extensions.unknownCritical.length) {
    throw new CertificateError(
      "unsupported_certificate",
      subject,
      `has an unsupported critical extension: ${extensions.unknownCritical.join(", ")}`,
    );
  }
  try {
    checkKeyStrength(publicKeyInfo(spki));
  } catch (e) {
    throw new CertificateError(
      "unsupported_certificate",
      subject,
      `has an unsupported public key: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** RFC 5280 4.2.1.3 / 4.2.1.12 for a TLS 1.3 server certificate. */
function checkLeafUsage(leaf: X509Certificate): void {
  const { keyUsage, extKeyUsage } = partsOf(leaf).extensions;
  // TLS 1.3 servers always sign (CertificateVerify): digitalSignature is needed.
  if (keyUsage && !hasKeyUsage(keyUsage, KeyUsageBit.digitalSignature)) {
    throw new CertificateError(
      "unsupported_certificate",
      describe(leaf),
      "has a keyUsage extension without digitalSignature, which TLS 1.3 needs",
    );
  }
  if (extKeyUsage && !allowsServerAuth(extKeyUsage)) {
    throw new CertificateError(
      "unsupported_certificate",
      describe(leaf),
      `is not for TLS servers: its extendedKeyUsage is ${ekuNames(extKeyUsage)}`,
    );
  }
}

function allowsServerAuth(eku: readonly string[]): boolean {
  return eku.includes(OID.serverAuth) || eku.includes(OID.anyExtendedKeyUsage);
}

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping",
  "1.3.6.1.5.5.7.3.9": "OCSPSigning",
};

function ekuNames(eku: readonly string[]): string {
  return eku.map((o) => EKU_NAMES[o] ?? o).join(", ");
}

interface Search {
  readonly store: TrustStore;
  readonly sent: readonly X509Certificate[];
  readonly now: Date;
  checks: number;
  /** The failure of the longest attempted path. */
  best?: { depth: number; error: CertificateError };
}

async function buildPath(
  leaf: X509Certificate,
  sent: X509Certificate[],
  store: TrustStore,
  now: Date,
): Promise<X509Certificate[]> {
  const s: Search = { store, sent: sent.slice(1), now, checks: 0 };
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
  try {
    await checkSignature(child, issuer, s);
    checkCertificate(issuer, s.now);
    checkCa(issuer, path, anchor);
  } catch (e) {
    if (e instanceof CertificateError) return e;
    throw e;
  }
}

async function checkSignature(child: X509Certificate, issuer: X509Certificate, s: Search) {
  if (++s.checks > MAX_SIGNATURE_CHECKS) {
    throw new CertificateError(
      "certificate_unknown",
      describe(child),
      `has too many candidate issuers (over ${MAX_SIGNATURE_CHECKS} signatures checked)`,
    );
  }
  const parts = partsOf(child);
  let alg;
  try {
    alg = signatureAlgorithm(parts.signatureAlgorithm);
  } catch (e) {
    const alert = e instanceof UnsupportedAlgorithmError
      ? "unsupported_certificate"
      : "bad_certificate";
    throw new CertificateError(
      alert,
      describe(child),
      `has an unusable signature algorithm: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const issuerSpki = partsOf(issuer).spki;
  let ok: boolean;
  try {
    ok = await verifySignature(alg, issuerSpki, parts.tbs, parts.signature);
  } catch (e) {
    throw new CertificateError(
      "unsupported_certificate",
      describe(issuer),
      `has an unsupported public key: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!ok) {
    throw new CertificateError(
      "bad_certificate",
      describe(child),
      `has a signature (${label(alg)}) that does not verify with the key of "${
        describe(issuer)
      }" ` +
        `(${keyLabel(publicKeyInfo(issuerSpki))})`,
    );
  }
}

/** RFC 5280 6.1.4 (k), (l), (m), (n) and 6.1.3 (b), for `issuer` placed above `path`. */
function checkCa(issuer: X509Certificate, path: X509Certificate[], anchor: boolean): void {
  const { extensions: ext, version } = partsOf(issuer);
  const subject = describe(issuer);
  const child = `"${describe(path[path.length - 1])}"`;
  const bc = ext.basicConstraints;
  if (!bc?.ca && !(anchor && version < 3)) {
    throw new CertificateError(
      "bad_certificate",
      subject,
      `is not a CA (${
        bc ? "basicConstraints cA is false" : "no basicConstraints"
      }) but issued ${child}`,
    );
  }
  if (ext.keyUsage && !hasKeyUsage(ext.keyUsage, KeyUsageBit.keyCertSign)) {
    throw new CertificateError(
      "bad_certificate",
      subject,
      `has a keyUsage extension without keyCertSign but issued ${child}`,
    );
  }
  // pathLenConstraint counts the non-self-issued intermediates below this CA (leaf excluded).
  const below = path.slice(1).filter((c) => !selfIssued(c)).length;
  if (bc?.pathLen !== undefined && below > bc.pathLen) {
    throw new CertificateError(
      "bad_certificate",
      subject,
      `allows ${bc.pathLen} intermediate CA${bc.pathLen === 1 ? "" : "s"} below it ` +
        `(pathLenConstraint) but the path has ${below}`,
    );
  }
  // Not in RFC 5280, but what OpenSSL and Go enforce: a CA restricted by extendedKeyUsage
  // cannot vouch for a purpose it does not have.
  if (ext.extKeyUsage && !allowsServerAuth(ext.extKeyUsage)) {
    throw new CertificateError(
      "unsupported_certificate",
      subject,
      `cannot issue TLS server certificates: its extendedKeyUsage is ${ekuNames(ext.extKeyUsage)}`,
    );
  }
  if (ext.nameConstraints) checkConstraintsBelow(issuer, path);
}

function checkConstraintsBelow(issuer: X509Certificate, path: X509Certificate[]): void {
  const nc = partsOf(issuer).extensions.nameConstraints!;
  for (const [i, cert] of path.entries()) {
    // RFC 5280 6.1.3 (b): self-issued intermediates are not subject to the constraints.
    if (i > 0 && selfIssued(cert)) continue;
    const result = checkNameConstraints(nc, constrainedNames(cert, i === 0));
    if (!result.ok) {
      throw new CertificateError(
        result.unsupported ? "unsupported_certificate" : "bad_certificate",
        describe(issuer),
        result.unsupported
          ? `has nameConstraints ${result.reason}`
          : `has nameConstraints that refuse "${describe(cert)}": ${result.reason}`,
      );
    }
  }
}

/** SAN names; for a leaf without SAN, the common names the host check would fall back to. */
function constrainedNames(cert: X509Certificate, leaf: boolean): ConstrainedNames {
  const san = partsOf(cert).extensions.subjectAltName;
  if (san) return { dns: san.dns, ip: san.ip };
  if (!leaf) return { dns: [], ip: [] };
  return { dns: cert.subjectName.getField("CN"), ip: [] };
}

function selfIssued(cert: X509Certificate): boolean {
  const p = partsOf(cert);
  return bytesEqual(p.issuer, p.subject);
}

function isoDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
