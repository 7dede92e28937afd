/** Errors of the x509 module. */

/** TLS alerts (RFC 8446 section 6.2) that a certificate failure maps to. */
export type CertificateAlert =
  | "bad_certificate"
  | "unsupported_certificate"
  | "certificate_revoked"
  | "certificate_expired"
  | "certificate_unknown"
  | "unknown_ca"
  | "decode_error";

/**
 * A peer certificate (chain) that is refused. `subject` names the certificate at fault (empty
 * when it could not even be decoded), `reason` says what was wrong, `alert` is what a TLS
 * client sends before closing.
 *
 *   Certificate "CN=Device CA" is not trusted: no issuer found in the trust store "/etc/ssl/certs" (1 certificate)
 */
export class CertificateError extends Error {
  override name = "CertificateError";
  constructor(
    readonly alert: CertificateAlert,
    readonly subject: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(subject ? `Certificate "${subject}" ${reason}` : `Certificate ${reason}`, options);
  }
}

/**
 * A certificate or trust store file named in the configuration that cannot be used. A
 * configuration problem: the CLI exits with 78 (EX_CONFIG).
 */
export class CertificateFileError extends Error {
  override name = "CertificateFileError";
  readonly kind = "configuration";
  constructor(readonly path: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
