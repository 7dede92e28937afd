/**
 * Extension blocks (RFC 8446 section 4.2): `Extension extensions<0..2^16-1>`, each
 * `uint16 type; opaque data<0..2^16-1>`.
 */

import { Reader, Writer } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";

/**
 * ExtensionType code points we use or recognise (RFC 8446 section 4.2, RFC 7301, RFC 6066; for
 * TLS 1.2 RFC 8422, RFC 7366, RFC 7627, RFC 5746).
 */
export const ExtensionType = {
  server_name: 0x0000,
  max_fragment_length: 0x0001,
  status_request: 0x0005,
  supported_groups: 0x000a,
  ec_point_formats: 0x000b,
  signature_algorithms: 0x000d,
  use_srtp: 0x000e,
  heartbeat: 0x000f,
  application_layer_protocol_negotiation: 0x0010,
  signed_certificate_timestamp: 0x0012,
  client_certificate_type: 0x0013,
  server_certificate_type: 0x0014,
  padding: 0x0015,
  encrypt_then_mac: 0x0016,
  extended_master_secret: 0x0017,
  record_size_limit: 0x001c,
  session_ticket: 0x0023,
  pre_shared_key: 0x0029,
  early_data: 0x002a,
  supported_versions: 0x002b,
  cookie: 0x002c,
  psk_key_exchange_modes: 0x002d,
  certificate_authorities: 0x002f,
  oid_filters: 0x0030,
  post_handshake_auth: 0x0031,
  signature_algorithms_cert: 0x0032,
  key_share: 0x0033,
  renegotiation_info: 0xff01,
} as const;

const NAMES = new Map<number, string>(
  Object.entries(ExtensionType).map(([name, code]) => [code, name]),
);

export function extensionName(type: number): string {
  return NAMES.get(type) ?? `extension 0x${type.toString(16).padStart(4, "0")}`;
}

export interface Extension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Reads an extension block; a type appearing twice is illegal_parameter (RFC 8446 4.2). */
export function decodeExtensions(r: Reader, what: string): Extension[] {
  const block = r.sub(2, "extensions");
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (!block.atEnd) {
    const type = block.u16("extension type");
    const data = block.vector(2, "extension data");
    if (seen.has(type)) {
      throw new TlsPeerMisbehavedError(
        `Server sent ${extensionName(type)} twice in ${what}`,
        "illegal_parameter",
      );
    }
    seen.add(type);
    out.push({ type, data });
  }
  return out;
}

export function encodeExtensions(w: Writer, extensions: readonly Extension[]): void {
  w.sub(2, (b) => {
    for (const e of extensions) b.u16(e.type).vector(2, e.data);
  });
}

export function findExtension(
  extensions: readonly Extension[],
  type: number,
): Extension | undefined {
  return extensions.find((e) => e.type === type);
}

/** Builds an extension from a body writer. */
export function extension(type: number, body: (w: Writer) => void): Extension {
  const w = new Writer(64);
  body(w);
  return { type, data: w.finish() };
}

/** A reader over an extension's data that must be consumed exactly. */
export function extensionReader(e: Extension): Reader {
  return new Reader(e.data, extensionName(e.type));
}
