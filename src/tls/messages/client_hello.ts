/**
 * ClientHello (RFC 8446 section 4.1.2) and the extensions a client sends in it.
 */

import { Reader, Writer } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import {
  decodeExtensions,
  encodeExtensions,
  type Extension,
  extension,
  ExtensionType,
} from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export const TLS12 = 0x0303;
export const TLS13 = 0x0304;

export interface ClientHello {
  /** 32 bytes. */
  readonly random: Uint8Array;
  /** 0..32 bytes; random 32 bytes in middlebox compatibility mode (RFC 8446 D.4). */
  readonly legacySessionId: Uint8Array;
  readonly cipherSuites: readonly number[];
  readonly extensions: readonly Extension[];
}

/** The whole handshake message (header included), as it enters the transcript. */
export function encodeClientHello(ch: ClientHello): Uint8Array {
  if (ch.random.length !== 32) throw new RangeError("ClientHello.random must be 32 bytes");
  if (ch.legacySessionId.length > 32) throw new RangeError("legacy_session_id exceeds 32 bytes");
  const w = new Writer(512)
    .u16(TLS12) // legacy_version
    .bytes(ch.random)
    .vector(1, ch.legacySessionId)
    .u16List(2, ch.cipherSuites)
    .vector(1, new Uint8Array([0])); // legacy_compression_methods: null only
  encodeExtensions(w, ch.extensions);
  return encodeHandshake(HandshakeType.client_hello, w.finish());
}

/** Decodes a ClientHello body (for tests and round trips; a client never receives one). */
export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body, "ClientHello");
  r.u16("legacy_version");
  const random = r.bytes(32, "random");
  const legacySessionId = r.vector(1, "legacy_session_id", 0, 32);
  const cipherSuites = r.u16List(2, "cipher_suites", 2);
  r.vector(1, "legacy_compression_methods", 1);
  const extensions = decodeExtensions(r, "ClientHello");
  r.end();
  return { random, legacySessionId, cipherSuites, extensions };
}

// ---- Extensions the client sends -----------------------------------------------------------

const te = new TextEncoder();

/** server_name with one host_name (RFC 6066 section 3). Never for IP literals. */
export function serverNameExtension(hostName: string): Extension {
  return extension(
    ExtensionType.server_name,
    (w) => w.sub(2, (list) => list.u8(0).vector(2, te.encode(hostName))),
  );
}

/** supported_versions in a ClientHello (RFC 8446 section 4.2.1). */
export function supportedVersionsExtension(versions: readonly number[]): Extension {
  return extension(ExtensionType.supported_versions, (w) => w.u16List(1, versions));
}

/** supported_groups (RFC 8446 section 4.2.7). */
export function supportedGroupsExtension(groups: readonly number[]): Extension {
  return extension(ExtensionType.supported_groups, (w) => w.u16List(2, groups));
}

export interface KeyShareEntry {
  readonly group: number;
  readonly keyExchange: Uint8Array;
}

/** key_share in a ClientHello: KeyShareClientHello (RFC 8446 section 4.2.8). */
export function keyShareClientExtension(entries: readonly KeyShareEntry[]): Extension {
  return extension(ExtensionType.key_share, (w) =>
    w.sub(2, (list) => {
      for (const e of entries) list.u16(e.group).vector(2, e.keyExchange);
    }));
}

/** signature_algorithms or signature_algorithms_cert (RFC 8446 section 4.2.3). */
export function signatureAlgorithmsExtension(
  type: typeof ExtensionType.signature_algorithms | typeof ExtensionType.signature_algorithms_cert,
  schemes: readonly number[],
): Extension {
  return extension(type, (w) => w.u16List(2, schemes));
}

/** application_layer_protocol_negotiation (RFC 7301 section 3.1). */
export function alpnExtension(protocols: readonly string[]): Extension {
  return extension(ExtensionType.application_layer_protocol_negotiation, (w) =>
    w.sub(2, (list) => {
      for (const p of protocols) list.vector(1, te.encode(p));
    }));
}

/** cookie, echoed from a HelloRetryRequest (RFC 8446 section 4.2.2). */
export function cookieExtension(cookie: Uint8Array): Extension {
  return extension(ExtensionType.cookie, (w) => w.vector(2, cookie));
}

/** Checks an ALPN protocol name given by the caller (1..255 bytes). */
export function checkAlpnProtocols(protocols: readonly string[]): void {
  if (protocols.length === 0) throw new RangeError("Invalid alpn: the list is empty");
  for (const p of protocols) {
    const n = te.encode(p).length;
    if (n < 1 || n > 255) {
      throw new RangeError(`Invalid ALPN protocol "${p}": must be 1 to 255 bytes`);
    }
  }
}

/** Reads the one protocol of a server's ALPN extension (RFC 7301 section 3.1). */
export function parseServerAlpn(data: Uint8Array): string {
  const r = new Reader(data, "application_layer_protocol_negotiation");
  const list = r.sub(2, "protocol_name_list", 2);
  const name = list.vector(1, "protocol_name", 1);
  r.end();
  if (!list.atEnd) {
    throw new TlsPeerMisbehavedError(
      "Server selected more than one ALPN protocol",
      "illegal_parameter",
    );
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(name);
}
