/**
 * Checks on the server's first message, ServerHello or HelloRetryRequest (RFC 8446 4.1.3,
 * 4.1.4), as pure functions of what we sent: which version it chose, then (TLS 1.3) the rest.
 * The TLS 1.2 ServerHello is checked in tls12/hello.ts.
 */

import {
  type CipherSuiteInfo,
  cipherSuiteInfo,
  cipherSuiteName,
  type TlsVersion,
} from "../cipher_suites.ts";
import { hex16 } from "../codec.ts";
import { TlsPeerIncompatibleError, TlsPeerMisbehavedError } from "../errors.ts";
import { groupName } from "./key_share.ts";
import {
  downgradeSentinel,
  type Extension,
  extensionName,
  ExtensionType,
  findExtension,
  isHelloRetryRequest,
  type KeyShareEntry,
  parseCookie,
  parseHrrKeyShare,
  parseSelectedVersion,
  parseServerAlpn,
  parseServerKeyShare,
  type ServerHello,
  TLS12,
  TLS13,
} from "../messages/mod.ts";

/** What the ServerHello is checked against. */
export interface OfferedHello {
  readonly legacySessionId: Uint8Array;
  readonly cipherSuites: readonly number[];
  /** Extension types present in our ClientHello. */
  readonly extensionTypes: ReadonlySet<number>;
}

const VERSION_NAMES: Record<number, string> = {
  0x0300: "SSL 3.0",
  0x0301: "TLS 1.0",
  0x0302: "TLS 1.1",
  0x0303: "TLS 1.2",
  0x0304: "TLS 1.3",
};

export function versionName(v: number): string {
  return VERSION_NAMES[v] ?? hex16(v);
}

/**
 * The version the server's first message chose (RFC 8446 4.1.3, 4.2.1). With supported_versions
 * it must be TLS 1.3 (TLS 1.2 there is illegal_parameter). Without, the server negotiated TLS
 * 1.2 or lower: TLS 1.2 when we offered it; otherwise protocol_version. Either way a random
 * that ends in a downgrade sentinel means a TLS 1.3 server saw no TLS 1.3 in our offer, so
 * someone removed it (illegal_parameter).
 */
export function negotiatedVersion(
  sh: ServerHello,
  allowTls12: boolean,
  serverLabel: string,
): TlsVersion {
  const sv = findExtension(sh.extensions, ExtensionType.supported_versions);
  if (sv) {
    checkSelectedVersion(sv);
    return "TLSv1.3";
  }
  const sentinel = downgradeSentinel(sh.random);
  if (sentinel) {
    throw new TlsPeerMisbehavedError(
      `Server ${serverLabel} answered with ${
        versionName(sh.legacyVersion)
      } and a downgrade sentinel (${sentinel}): someone may be tampering with the connection`,
      "illegal_parameter",
    );
  }
  if (sh.legacyVersion === TLS12 && allowTls12) return "TLSv1.2";
  if (sh.legacyVersion > TLS12) {
    throw new TlsPeerMisbehavedError(
      `Server sent a ServerHello with legacy_version ${
        hex16(sh.legacyVersion)
      } and no supported_versions`,
      "illegal_parameter",
    );
  }
  const answered = versionName(sh.legacyVersion);
  throw new TlsPeerIncompatibleError(
    allowTls12
      ? `Server ${serverLabel} does not speak TLS 1.3 or TLS 1.2: it answered with ${answered}`
      : `Server ${serverLabel} does not speak TLS 1.3: it answered with ${answered}` +
        (sh.legacyVersion === TLS12 ? ", and this connection allows TLS 1.3 only" : ""),
    "protocol_version",
  );
}

/** RFC 8446 4.2.1: the selected version must be TLS 1.3, the only one above TLS 1.2. */
function checkSelectedVersion(sv: Extension): void {
  const selected = parseSelectedVersion(sv);
  if (selected !== TLS13) {
    throw new TlsPeerMisbehavedError(
      `Server selected ${versionName(selected)} in supported_versions, which we did not offer`,
      "illegal_parameter",
    );
  }
}

/**
 * Checks the fields both TLS 1.3 message kinds share; returns the chosen suite. Called after
 * negotiatedVersion() said TLS 1.3 for the first message; a second ServerHello (after a
 * HelloRetryRequest) must keep TLS 1.3 (RFC 8446 4.1.4).
 */
export function checkServerHello(sh: ServerHello, offered: OfferedHello): CipherSuiteInfo {
  const hrr = isHelloRetryRequest(sh);
  const what = hrr ? "HelloRetryRequest" : "ServerHello";
  const sv = findExtension(sh.extensions, ExtensionType.supported_versions);
  if (!sv) {
    throw new TlsPeerMisbehavedError(
      `Server answered with ${
        versionName(sh.legacyVersion)
      } after its HelloRetryRequest chose TLS 1.3`,
      "illegal_parameter",
    );
  }
  checkSelectedVersion(sv);
  if (sh.legacyVersion !== TLS12) {
    throw new TlsPeerMisbehavedError(
      `Server sent a ${what} with legacy_version ${hex16(sh.legacyVersion)}, expected 0x0303`,
      "illegal_parameter",
    );
  }
  if (!equalBytes(sh.legacySessionIdEcho, offered.legacySessionId)) {
    throw new TlsPeerMisbehavedError(
      `Server's ${what} does not echo our legacy_session_id`,
      "illegal_parameter",
    );
  }
  const suite = offeredSuite(sh, offered);
  if (suite.version !== "TLSv1.3") {
    throw new TlsPeerMisbehavedError(
      `Server chose ${suite.name}, a TLS 1.2 cipher suite, in a TLS 1.3 ${what}`,
      "illegal_parameter",
    );
  }
  if (sh.legacyCompressionMethod !== 0) {
    throw new TlsPeerMisbehavedError(
      `Server chose compression method ${sh.legacyCompressionMethod}; TLS 1.3 has none`,
      "illegal_parameter",
    );
  }
  const allowed = hrr
    ? [ExtensionType.supported_versions, ExtensionType.key_share, ExtensionType.cookie]
    : [ExtensionType.supported_versions, ExtensionType.key_share];
  checkExtensionsAllowed(sh.extensions, allowed, offered.extensionTypes, what, hrr);
  return suite;
}

/** The suite the server chose, which must be one we offered (RFC 8446 4.1.3, RFC 5246 7.4.1.3). */
export function offeredSuite(sh: ServerHello, offered: OfferedHello): CipherSuiteInfo {
  const suite = cipherSuiteInfo(sh.cipherSuite);
  if (!suite || !offered.cipherSuites.includes(sh.cipherSuite)) {
    throw new TlsPeerMisbehavedError(
      `Server chose cipher suite ${cipherSuiteName(sh.cipherSuite)}, which we did not offer`,
      "illegal_parameter",
    );
  }
  return suite;
}

/**
 * The ALPN protocol the server chose in `extensions` (EncryptedExtensions in TLS 1.3, the
 * ServerHello in TLS 1.2), which must be one we offered (RFC 7301 3.2); undefined for none.
 */
export function chosenAlpn(
  extensions: readonly Extension[],
  offered: readonly string[] | undefined,
): string | undefined {
  const ext = findExtension(extensions, ExtensionType.application_layer_protocol_negotiation);
  if (!ext) return undefined;
  const chosen = parseServerAlpn(ext.data);
  if (!offered?.includes(chosen)) {
    throw new TlsPeerMisbehavedError(
      `Server selected ALPN protocol "${chosen}", which we did not offer`,
      "illegal_parameter",
    );
  }
  return chosen;
}

/**
 * RFC 8446 4.2: an extension we did not send is unsupported_extension (the cookie in a
 * HelloRetryRequest excepted); one we sent that does not belong in this message is
 * illegal_parameter.
 */
export function checkExtensionsAllowed(
  extensions: readonly Extension[],
  allowed: readonly number[],
  sent: ReadonlySet<number>,
  message: string,
  cookieUnasked = false,
): void {
  for (const e of extensions) {
    const isAllowed = allowed.includes(e.type);
    const wasSent = sent.has(e.type) || (cookieUnasked && e.type === ExtensionType.cookie);
    if (isAllowed && wasSent) continue;
    throw new TlsPeerMisbehavedError(
      `Server sent ${extensionName(e.type)} in its ${message}${
        wasSent ? ", where it does not belong" : " without our asking"
      }`,
      wasSent ? "illegal_parameter" : "unsupported_extension",
    );
  }
}

/** What a HelloRetryRequest asks for (RFC 8446 4.1.4). */
export interface RetryRequest {
  readonly suite: CipherSuiteInfo;
  readonly selectedGroup: number | undefined;
  readonly cookie: Uint8Array | undefined;
}

/**
 * Reads a HelloRetryRequest already checked by checkServerHello. Refuses one that names a group
 * we did not offer, names a group we already sent a share for, or changes nothing.
 */
export function parseRetryRequest(
  hrr: ServerHello,
  suite: CipherSuiteInfo,
  groups: readonly number[],
  sharedGroups: readonly number[],
): RetryRequest {
  const ks = findExtension(hrr.extensions, ExtensionType.key_share);
  const ck = findExtension(hrr.extensions, ExtensionType.cookie);
  const selectedGroup = ks ? parseHrrKeyShare(ks) : undefined;
  const cookie = ck ? parseCookie(ck) : undefined;
  if (selectedGroup !== undefined) {
    if (!groups.includes(selectedGroup)) {
      throw new TlsPeerMisbehavedError(
        `Server asked for group ${groupName(selectedGroup)}, which we did not offer`,
        "illegal_parameter",
      );
    }
    if (sharedGroups.includes(selectedGroup)) {
      throw new TlsPeerMisbehavedError(
        `Server asked for group ${groupName(selectedGroup)}, for which we already sent a key share`,
        "illegal_parameter",
      );
    }
  }
  if (selectedGroup === undefined && cookie === undefined) {
    throw new TlsPeerMisbehavedError(
      "Server sent a HelloRetryRequest that would not change our ClientHello",
      "illegal_parameter",
    );
  }
  return { suite, selectedGroup, cookie };
}

/**
 * The server's key share from a ServerHello: present, for a group we sent a share for
 * (RFC 8446 4.2.8), and after a HelloRetryRequest the same suite and group (4.1.4).
 */
export function serverKeyShare(
  sh: ServerHello,
  suite: CipherSuiteInfo,
  sharedGroups: readonly number[],
  retry: RetryRequest | undefined,
): KeyShareEntry {
  if (retry && retry.suite.code !== suite.code) {
    throw new TlsPeerMisbehavedError(
      `Server chose ${suite.name} in its ServerHello after ${retry.suite.name} in its ` +
        "HelloRetryRequest",
      "illegal_parameter",
    );
  }
  const ks = findExtension(sh.extensions, ExtensionType.key_share);
  if (!ks) {
    throw new TlsPeerMisbehavedError(
      "Server sent a ServerHello without key_share (a PSK-only handshake, which we did not offer)",
      "missing_extension",
    );
  }
  const entry = parseServerKeyShare(ks);
  if (!sharedGroups.includes(entry.group)) {
    throw new TlsPeerMisbehavedError(
      `Server sent a key share for ${groupName(entry.group)}, for which we sent none`,
      "illegal_parameter",
    );
  }
  return entry;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
