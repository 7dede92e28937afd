/**
 * The per-certificate checks of path validation (RFC 5280 6.1.3, 6.1.4) for a TLS server
 * chain: every certificate (dates, critical extensions, key, well-formed names and key
 * identifiers), the leaf (keyUsage, extendedKeyUsage) and each issuer (subject,
 * basicConstraints, pathLenConstraint, keyUsage, extendedKeyUsage, nameConstraints). Each
 * throws a CertificateError naming the certificate. The profile rules beyond RFC 5280
 * section 6, and the choices made where profiles differ, are in _profile.ts.
 */
import { bytesEqual } from "./der.ts";
import { hasKeyUsage, KeyUsageBit, OID } from "./_extensions.ts";
import {
  checkConstraintForms,
  checkNameConstraints,
  type ComparisonBudget,
  type ConstrainedNames,
} from "./_name_constraints.ts";
import { checkKeyIdentifiers, checkPresentedNames } from "./_profile.ts";
import { describe, partsOf, type X509Certificate } from "./certificate.ts";
import { CertificateError } from "./errors.ts";
import { parseServerName } from "./hostname.ts";
import { checkKeyStrength, publicKeyInfo } from "./signature.ts";

/**
 * Checks every certificate on a path needs: validity dates, critical extensions, its key, its
 * key identifiers and the DNS names it presents.
 */
export function checkCertificate(cert: X509Certificate, now: Date): void {
  const subject = describe(cert);
  const { notBefore, notAfter, extensions, spki } = partsOf(cert);
  if (now.getTime() < notBefore) {
    throw new CertificateError(
      "certificate_expired",
      subject,
      `is not valid before ${isoDate(cert.notBefore)} (now ${isoDate(now)})`,
    );
  }
  if (now.getTime() > notAfter) {
    throw new CertificateError(
      "certificate_expired",
      subject,
      `expired on ${isoDate(cert.notAfter)}`,
    );
  }
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
  checkKeyIdentifiers(cert);
  checkPresentedNames(cert);
}

/** RFC 5280 4.2.1.3 / 4.2.1.12 for a TLS 1.3 server certificate. */
export function checkLeafUsage(leaf: X509Certificate): void {
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

/**
 * RFC 5280 6.1.4 (k), (l), (m), (n) and 6.1.3 (b), for `issuer` placed above `path`; name
 * constraint comparisons are charged to `budget`.
 */
export function checkCa(
  issuer: X509Certificate,
  path: X509Certificate[],
  anchor: boolean,
  budget: ComparisonBudget,
): void {
  const { extensions: ext, version } = partsOf(issuer);
  const subject = describe(issuer);
  const child = `"${describe(path[path.length - 1])}"`;
  const bc = ext.basicConstraints;
  if (!bc?.ca && !(anchor && version < 3)) {
    const why = bc ? "basicConstraints cA is false" : "no basicConstraints";
    throw new CertificateError(
      "bad_certificate",
      subject,
      `is not a CA (${why}) but issued ${child}`,
    );
  }
  // RFC 5280 4.1.2.6: a CA's subject MUST be a non-empty name (it is what children name as
  // their issuer; an empty one matches every certificate with an empty issuer).
  if (issuer.subject === "") {
    throw new CertificateError(
      "bad_certificate",
      subject,
      `is a CA with an empty subject name, which RFC 5280 4.1.2.6 forbids, but issued ${child}`,
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
  if (ext.nameConstraints) checkConstraintsBelow(issuer, path, budget);
}

function checkConstraintsBelow(
  issuer: X509Certificate,
  path: X509Certificate[],
  budget: ComparisonBudget,
): void {
  const nc = partsOf(issuer).extensions.nameConstraints!;
  const forms = checkConstraintForms(nc);
  if (!forms.ok) {
    const alert = forms.unusable === "unsupported" ? "unsupported_certificate" : "bad_certificate";
    throw new CertificateError(alert, describe(issuer), `has nameConstraints ${forms.reason}`);
  }
  for (const [i, cert] of path.entries()) {
    // RFC 5280 6.1.3 (b): self-issued intermediates are not subject to the constraints.
    if (i > 0 && selfIssued(cert)) continue;
    const result = checkNameConstraints(nc, constrainedNames(cert, i === 0), budget);
    if (!result.ok) {
      throw new CertificateError(
        "bad_certificate",
        describe(issuer),
        result.unusable
          ? `has nameConstraints ${result.reason}`
          : `has nameConstraints that refuse "${describe(cert)}": ${result.reason}`,
      );
    }
  }
}

/**
 * SAN names; for a leaf without SAN, the host-like common names too (as rustls-webpki does):
 * such a leaf is valid for no name anyway, but a constrained CA above it is reported first.
 */
function constrainedNames(cert: X509Certificate, leaf: boolean): ConstrainedNames {
  const san = partsOf(cert).extensions.subjectAltName;
  if (san) return { dns: san.dns, ip: san.ip };
  if (!leaf) return { dns: [], ip: [] };
  const hostLike = (cn: string) => parseServerName(cn.replace(/^\*\./, "x."))?.kind === "dns";
  return { dns: cert.commonNames.filter(hostLike), ip: [] };
}

export function selfIssued(cert: X509Certificate): boolean {
  const p = partsOf(cert);
  return bytesEqual(p.issuer, p.subject);
}

function isoDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
