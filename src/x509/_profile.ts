/**
 * The certificate profile checks (RFC 5280 section 4, and the CA/Browser Forum Baseline
 * Requirements where they make a path safer) that go beyond the path validation algorithm of
 * RFC 5280 section 6: what makes a certificate malformed, or a CA certificate unfit to be a
 * server's end-entity certificate. Each throws a CertificateError naming the certificate.
 *
 * Where the profiles disagree, the choice made here, and why:
 *
 * - Key identifiers (RFC 5280 4.2.1.1, 4.2.1.2). Presence is not required: "MUST include" is
 *   a rule for the issuing CA, which Go, rustls-webpki and OpenSSL (without -x509_strict) do
 *   not enforce, and version 1 CAs, which we accept as anchors, cannot have one; path building
 *   uses names and signatures, the identifiers only to skip candidates that cannot fit. Their
 *   form is enforced: neither may be critical (RFC 5280: MUST be non-critical), neither may be
 *   empty, and authorityCertIssuer and authorityCertSerialNumber come together or not at all.
 *   When the child's authority key id and the issuer's subject key id are both present they
 *   must agree (chain.ts). A self-issued anchor whose authority key id differs from its own
 *   subject key id is accepted: a key-rollover certificate (old key signs the new) is exactly
 *   that, and the anchor is the user's choice anyway.
 * - Criticality. basicConstraints of a CA may be non-critical (easy-rsa issues such CAs; Go,
 *   rustls-webpki and OpenSSL accept them); nameConstraints may be non-critical (the CA/B
 *   Forum allows it); a critical extendedKeyUsage or a critical subjectAltName beside a
 *   non-empty subject is accepted (RFC 5280 says SHOULD NOT, not MUST NOT). A
 *   subjectAltName that is not critical beside an empty subject is refused (RFC 5280 4.2.1.6:
 *   MUST be critical), as is a critical key identifier.
 * - The common name is never used for the server name (hostname.ts), so it need not repeat a
 *   subjectAltName entry (the CA/B Forum's 7.1.4.3); private brokers often carry a descriptive
 *   CN. Accepted.
 * - DNS names: `_` is allowed in labels (Go allows it, and service names use it); a wildcard is
 *   honoured only above two labels or more (`*.example.com`, never `*.com`), without a Public
 *   Suffix List on the device (`*.co.uk` is syntactically fine and matches `a.co.uk`).
 * - Serial numbers (RFC 5280 4.1.2.2): a certificate the server sends must have a positive
 *   serial of at most 20 octets, minimally encoded, as Go (negative), rustls-webpki and the
 *   CA/B Forum require. Trust anchors are taken as the user gave them and are not held to it.
 * - A CA certificate as the server's certificate (cA true, keyCertSign or nameConstraints on
 *   the leaf) is refused, as rustls-webpki and the CA/B Forum do (RFC 5280 itself is silent).
 *   Exception: a leaf that is itself in the trust store (a pinned self-signed certificate, as
 *   `openssl req -x509` makes, cA true included) is trusted as the user gave it, as Go and
 *   OpenSSL do.
 */
import { hasKeyUsage, KeyUsageBit, OID } from "./_extensions.ts";
import { describe, partsOf, type X509Certificate } from "./certificate.ts";
import { hex } from "./der.ts";
import { CertificateError } from "./errors.ts";
import { dnsNameSyntaxError } from "./hostname.ts";

/** RFC 5280 4.2.1.1, 4.2.1.2: well-formed, non-critical key identifiers. */
export function checkKeyIdentifiers(cert: X509Certificate): void {
  const { critical, authorityKeyFields: aki, authorityKeyId, subjectKeyId } =
    partsOf(cert).extensions;
  const bad = (why: string) => new CertificateError("bad_certificate", describe(cert), why);
  for (
    const [oid, name] of [
      [OID.authorityKeyIdentifier, "authorityKeyIdentifier"],
      [OID.subjectKeyIdentifier, "subjectKeyIdentifier"],
    ]
  ) {
    if (critical.includes(oid)) {
      throw bad(`marks its ${name} extension critical, which RFC 5280 forbids`);
    }
  }
  if (aki) {
    if (aki.authorityCertIssuer !== aki.authorityCertSerialNumber) {
      throw bad(
        "has an authorityKeyIdentifier with only one of authorityCertIssuer and " +
          "authorityCertSerialNumber, which RFC 5280 4.2.1.1 requires together",
      );
    }
    if (!aki.keyIdentifier && !aki.authorityCertIssuer) {
      throw bad("has an empty authorityKeyIdentifier extension");
    }
    if (authorityKeyId?.length === 0) throw bad("has an empty authority key identifier");
  }
  if (subjectKeyId?.length === 0) throw bad("has an empty subject key identifier");
}

/** RFC 5280 4.2.1.6: every dNSName in subjectAltName is a well-formed name. */
export function checkPresentedNames(cert: X509Certificate): void {
  for (const name of partsOf(cert).extensions.subjectAltName?.dns ?? []) {
    const why = dnsNameSyntaxError(name, "presented");
    if (why) {
      throw new CertificateError(
        "bad_certificate",
        describe(cert),
        `has a malformed DNS name "${name}" in its subjectAltName: ${why}`,
      );
    }
  }
}

/** RFC 5280 4.1.2.2: a positive serial number of at most 20 octets, minimally encoded. */
export function checkSerialNumber(cert: X509Certificate): void {
  const s = partsOf(cert).serial;
  const negative = s.length > 0 && (s[0] & 0x80) !== 0;
  const nonMinimal = s.length > 1 &&
    ((s[0] === 0 && (s[1] & 0x80) === 0) || (s[0] === 0xff && (s[1] & 0x80) !== 0));
  const magnitude = s.length > 1 && s[0] === 0 ? s.length - 1 : s.length;
  let why: string | undefined;
  if (s.length === 0 || nonMinimal) why = "is not a DER INTEGER";
  else if (negative) why = "is negative";
  else if (s.every((b) => b === 0)) why = "is zero";
  else if (magnitude > 20) why = `is ${magnitude} octets long, more than 20`;
  if (why) {
    throw new CertificateError(
      "bad_certificate",
      describe(cert),
      `has a serial number that ${why} (0x${hex(s)}); RFC 5280 4.1.2.2 requires a positive ` +
        "number of at most 20 octets",
    );
  }
}

/**
 * The server's own certificate, when it is not itself a trust anchor: an end-entity certificate
 * (not a CA, no keyCertSign, no nameConstraints), with a valid serial number, and a critical
 * subjectAltName if its subject is empty.
 */
export function checkEndEntity(leaf: X509Certificate): void {
  const { extensions: ext } = partsOf(leaf);
  const refuse = (why: string) => {
    throw new CertificateError("bad_certificate", describe(leaf), why);
  };
  if (ext.basicConstraints?.ca) {
    refuse(
      "is a CA certificate (basicConstraints cA is true), not a server certificate: a server " +
        "must present an end-entity certificate",
    );
  }
  if (ext.keyUsage && hasKeyUsage(ext.keyUsage, KeyUsageBit.keyCertSign)) {
    refuse(
      "is a server certificate whose keyUsage allows keyCertSign, which only a CA certificate " +
        "may assert (RFC 5280 4.2.1.9)",
    );
  }
  if (ext.nameConstraints) {
    refuse(
      "is a server certificate with a nameConstraints extension, which only a CA certificate " +
        "may carry (RFC 5280 4.2.1.10)",
    );
  }
  checkSerialNumber(leaf);
  if (leaf.subject === "" && ext.subjectAltName && !ext.critical.includes(OID.subjectAltName)) {
    refuse(
      "has an empty subject and a non-critical subjectAltName, which RFC 5280 4.2.1.6 requires " +
        "to be critical",
    );
  }
}
