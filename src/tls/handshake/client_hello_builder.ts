/**
 * Our ClientHello (RFC 8446 section 4.1.2) and its retry after a HelloRetryRequest.
 *
 * Extensions, in this order: server_name (DNS names only, RFC 6066 section 3: "Literal IPv4 and
 * IPv6 addresses are not permitted"); when TLS 1.2 is offered too, extended_master_secret (RFC
 * 7627), renegotiation_info (RFC 5746, empty: an initial handshake) and ec_point_formats
 * (uncompressed, RFC 8422); supported_versions (TLS 1.3, then TLS 1.2 if allowed),
 * supported_groups, key_share (one share), signature_algorithms (with RSA PKCS#1 v1.5 when TLS
 * 1.2 is offered), signature_algorithms_cert, and ALPN if asked. No PSK, no early data, no
 * session ticket: we never resume. TLS 1.2 servers ignore what they do not know (RFC 5246
 * 7.4.1.4); TLS 1.3 servers ignore the TLS 1.2 extensions.
 */

import type { KeyShare } from "./key_share.ts";
import {
  alpnExtension,
  type ClientHello,
  cookieExtension,
  ecPointFormatsExtension,
  extendedMasterSecretExtension,
  type Extension,
  ExtensionType,
  keyShareClientExtension,
  renegotiationInfoExtension,
  serverNameExtension,
  signatureAlgorithmsExtension,
  supportedGroupsExtension,
  supportedVersionsExtension,
  TLS12,
  TLS13,
} from "../messages/mod.ts";
import {
  CERTIFICATE_SIGNATURE_SCHEMES,
  SIGNATURE_SCHEMES,
  TLS12_SIGNATURE_SCHEMES,
} from "./signature.ts";

export interface ClientHelloParams {
  readonly sni: string | undefined;
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
  readonly alpn: readonly string[] | undefined;
  readonly allowTls12: boolean;
}

export function buildClientHello(
  params: ClientHelloParams,
  random: Uint8Array,
  legacySessionId: Uint8Array,
  shares: readonly KeyShare[],
): ClientHello {
  const extensions: Extension[] = [];
  if (params.sni !== undefined) extensions.push(serverNameExtension(params.sni));
  if (params.allowTls12) {
    extensions.push(
      extendedMasterSecretExtension(),
      renegotiationInfoExtension(),
      ecPointFormatsExtension(),
    );
  }
  extensions.push(
    supportedVersionsExtension(params.allowTls12 ? [TLS13, TLS12] : [TLS13]),
    supportedGroupsExtension(params.groups),
    keyShares(shares),
    signatureAlgorithmsExtension(
      ExtensionType.signature_algorithms,
      params.allowTls12 ? TLS12_SIGNATURE_SCHEMES : SIGNATURE_SCHEMES,
    ),
    signatureAlgorithmsExtension(
      ExtensionType.signature_algorithms_cert,
      CERTIFICATE_SIGNATURE_SCHEMES,
    ),
  );
  if (params.alpn?.length) extensions.push(alpnExtension(params.alpn));
  return { random, legacySessionId, cipherSuites: params.cipherSuites, extensions };
}

/**
 * ClientHello2 (RFC 8446 4.1.2): the same as the first, except the key_share holds the new
 * share and the HRR's cookie is echoed. Random and session id stay the same.
 */
export function retryClientHello(
  first: ClientHello,
  shares: readonly KeyShare[],
  cookie: Uint8Array | undefined,
): ClientHello {
  const extensions = first.extensions.map((e) =>
    e.type === ExtensionType.key_share ? keyShares(shares) : e
  );
  if (cookie) extensions.push(cookieExtension(cookie));
  return { ...first, extensions };
}

function keyShares(shares: readonly KeyShare[]): Extension {
  return keyShareClientExtension(
    shares.map((s) => ({ group: s.group, keyExchange: s.publicKey })),
  );
}
