/**
 * ServerHello and HelloRetryRequest (RFC 8446 section 4.1.3 and 4.1.4). They share one wire
 * format; a HelloRetryRequest is a ServerHello whose random is the special value below.
 */

import { bytesEqual, Reader, Writer } from "../codec.ts";
import { TlsDecodeError } from "../errors.ts";
import {
  decodeExtensions,
  encodeExtensions,
  type Extension,
  extensionReader,
} from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";
import type { KeyShareEntry } from "./client_hello.ts";

/** SHA-256("HelloRetryRequest") (RFC 8446 section 4.1.3). */
export const HELLO_RETRY_REQUEST_RANDOM = new Uint8Array([
  0xcf,
  0x21,
  0xad,
  0x74,
  0xe5,
  0x9a,
  0x61,
  0x11,
  0xbe,
  0x1d,
  0x8c,
  0x02,
  0x1e,
  0x65,
  0xb8,
  0x91,
  0xc2,
  0xa2,
  0x11,
  0x16,
  0x7a,
  0xbb,
  0x8c,
  0x5e,
  0x07,
  0x9e,
  0x09,
  0xe2,
  0xc8,
  0xa8,
  0x33,
  0x9c,
]);

/** "DOWNGRD" + 01 (TLS 1.2) or 00 (TLS 1.1 and below) ends a downgraded random (4.1.3). */
const DOWNGRADE_PREFIX = new Uint8Array([0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44]);

export interface ServerHello {
  readonly legacyVersion: number;
  readonly random: Uint8Array;
  readonly legacySessionIdEcho: Uint8Array;
  readonly cipherSuite: number;
  readonly legacyCompressionMethod: number;
  readonly extensions: readonly Extension[];
}

/** Decodes a ServerHello body. A TLS 1.2 ServerHello may have no extension block at all. */
export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body, "ServerHello");
  const legacyVersion = r.u16("legacy_version");
  const random = r.bytes(32, "random");
  const legacySessionIdEcho = r.vector(1, "legacy_session_id_echo", 0, 32);
  const cipherSuite = r.u16("cipher_suite");
  const legacyCompressionMethod = r.u8("legacy_compression_method");
  const extensions = r.atEnd ? [] : decodeExtensions(r, "ServerHello");
  r.end();
  return {
    legacyVersion,
    random,
    legacySessionIdEcho,
    cipherSuite,
    legacyCompressionMethod,
    extensions,
  };
}

export function encodeServerHello(sh: ServerHello): Uint8Array {
  const w = new Writer(256)
    .u16(sh.legacyVersion)
    .bytes(sh.random)
    .vector(1, sh.legacySessionIdEcho)
    .u16(sh.cipherSuite)
    .u8(sh.legacyCompressionMethod);
  encodeExtensions(w, sh.extensions);
  return encodeHandshake(HandshakeType.server_hello, w.finish());
}

export function isHelloRetryRequest(sh: ServerHello): boolean {
  return bytesEqual(sh.random, HELLO_RETRY_REQUEST_RANDOM);
}

/** Which downgrade sentinel the random carries, if any (RFC 8446 section 4.1.3). */
export function downgradeSentinel(random: Uint8Array): "TLS 1.2" | "TLS 1.1" | undefined {
  const tail = random.subarray(24);
  if (!bytesEqual(tail.subarray(0, 7), DOWNGRADE_PREFIX)) return undefined;
  return tail[7] === 1 ? "TLS 1.2" : tail[7] === 0 ? "TLS 1.1" : undefined;
}

/** supported_versions in a ServerHello/HRR: the selected version (RFC 8446 4.2.1). */
export function parseSelectedVersion(e: Extension): number {
  const r = extensionReader(e);
  const v = r.u16("selected_version");
  r.end();
  return v;
}

/** key_share in a ServerHello: one KeyShareEntry (RFC 8446 4.2.8). */
export function parseServerKeyShare(e: Extension): KeyShareEntry {
  const r = extensionReader(e);
  const group = r.u16("group");
  const keyExchange = r.vector(2, "key_exchange", 1);
  r.end();
  return { group, keyExchange };
}

/** key_share in a HelloRetryRequest: the selected group (RFC 8446 4.2.8). */
export function parseHrrKeyShare(e: Extension): number {
  const r = extensionReader(e);
  const group = r.u16("selected_group");
  r.end();
  return group;
}

/** cookie<1..2^16-1> (RFC 8446 4.2.2). */
export function parseCookie(e: Extension): Uint8Array {
  const r = extensionReader(e);
  const cookie = r.vector(2, "cookie", 1);
  r.end();
  if (cookie.length === 0) throw new TlsDecodeError("Cannot decode cookie: it is empty");
  return cookie;
}
