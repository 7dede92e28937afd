/**
 * The TLS 1.2 ServerHello (RFC 5246 7.4.1.3), once negotiatedVersion() said TLS 1.2: a suite
 * we offered (ECDHE with an AEAD, so never CBC, RSA key exchange or static DH), no
 * compression, only extensions we sent, and the two we require: extended_master_secret (RFC
 * 7627 5.2: a server without it is refused, so no master secret is ever made without the
 * session hash) and renegotiation_info (RFC 5746 3.4: a server that cannot tell an initial
 * handshake from a renegotiation can have ours spliced onto someone else's connection).
 */

import type { CipherSuiteInfo } from "../../cipher_suites.ts";
import { TlsPeerIncompatibleError, TlsPeerMisbehavedError } from "../../errors.ts";
import {
  ExtensionType,
  findExtension,
  parseEcPointFormats,
  parseEmptyExtension,
  parseRenegotiationInfo,
  type ServerHello,
} from "../../messages/mod.ts";
import { checkExtensionsAllowed, chosenAlpn, type OfferedHello, offeredSuite } from "../hello.ts";
import { checkServerNameEcho } from "../server_flight.ts";

/** What the TLS 1.2 ServerHello settled. */
export interface Tls12Hello {
  readonly suite: CipherSuiteInfo;
  readonly alpn: string | undefined;
}

/** Extensions a TLS 1.2 ServerHello may carry, of those we send (RFC 5246 7.4.1.4). */
const ALLOWED = [
  ExtensionType.server_name,
  ExtensionType.ec_point_formats,
  ExtensionType.extended_master_secret,
  ExtensionType.renegotiation_info,
  ExtensionType.application_layer_protocol_negotiation,
];

export function checkTls12ServerHello(
  sh: ServerHello,
  offered: OfferedHello,
  alpn: readonly string[] | undefined,
  serverLabel: string,
): Tls12Hello {
  const suite = offeredSuite(sh, offered);
  if (suite.version !== "TLSv1.2") {
    throw new TlsPeerMisbehavedError(
      `Server chose ${suite.name}, a TLS 1.3 cipher suite, in a TLS 1.2 ServerHello`,
      "illegal_parameter",
    );
  }
  if (sh.legacyCompressionMethod !== 0) {
    throw new TlsPeerMisbehavedError(
      `Server chose compression method ${sh.legacyCompressionMethod}, which we did not offer`,
      "illegal_parameter",
    );
  }
  // An extension we did not send is unsupported_extension, one of ours that has no place
  // here (key_share, supported_versions...) illegal_parameter.
  checkExtensionsAllowed(sh.extensions, ALLOWED, offered.extensionTypes, "ServerHello");
  checkServerNameEcho(sh.extensions, "ServerHello");
  const ems = findExtension(sh.extensions, ExtensionType.extended_master_secret);
  if (!ems) {
    throw new TlsPeerIncompatibleError(
      `Server ${serverLabel} does not support the extended master secret (RFC 7627), which ` +
        "hsm-bridge requires for TLS 1.2",
      "handshake_failure",
    );
  }
  parseEmptyExtension(ems);
  const ri = findExtension(sh.extensions, ExtensionType.renegotiation_info);
  if (!ri) {
    throw new TlsPeerIncompatibleError(
      `Server ${serverLabel} does not support secure renegotiation (RFC 5746), which ` +
        "hsm-bridge requires for TLS 1.2",
      "handshake_failure",
    );
  }
  parseRenegotiationInfo(ri);
  const formats = findExtension(sh.extensions, ExtensionType.ec_point_formats);
  if (formats) parseEcPointFormats(formats);
  return { suite, alpn: chosenAlpn(sh.extensions, alpn) };
}
