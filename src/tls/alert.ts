/**
 * TLS alerts (RFC 8446 section 6). In TLS 1.3 every alert except close_notify and
 * user_canceled is fatal; the level byte carries no meaning and is ignored on receipt. TLS 1.2
 * (RFC 5246 7.2) has warning alerts, which the record layer drops; we send one warning of our
 * own there, no_renegotiation.
 */

export const AlertLevel = {
  warning: 1,
  fatal: 2,
} as const;

/** AlertDescription code points (RFC 8446 section 6). */
export const Alert = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  no_renegotiation: 100,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

export type AlertName = keyof typeof Alert;

const NAMES = new Map<number, AlertName>(
  (Object.entries(Alert) as [AlertName, number][]).map(([name, code]) => [code, name]),
);

/** The alert's name, or `alert 123` for a code RFC 8446 does not define. */
export function alertName(code: number): string {
  return NAMES.get(code) ?? `alert ${code}`;
}

/** Whether `name` is an alert name we know (x509 errors carry names as strings). */
export function isAlertName(name: string): name is AlertName {
  return Object.hasOwn(Alert, name);
}

/**
 * The two-byte Alert body (RFC 8446 section 6). close_notify, user_canceled and (TLS 1.2,
 * RFC 5246 7.2.2) no_renegotiation go out as warnings.
 */
export function encodeAlert(name: AlertName): Uint8Array {
  const level = name === "close_notify" || name === "user_canceled" || name === "no_renegotiation"
    ? AlertLevel.warning
    : AlertLevel.fatal;
  return new Uint8Array([level, Alert[name]]);
}
