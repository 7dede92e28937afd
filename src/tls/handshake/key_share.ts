/**
 * (EC)DHE key shares (RFC 8446 section 4.2.8 and 7.4): x25519, secp256r1, secp384r1. Private
 * keys are drawn from the RandomSource (so RFC 8448 tests can inject them) and imported as
 * PKCS#8; the crypto library then gives the public key and the shared secret.
 *
 * x25519, the share of every first ClientHello, runs on node:crypto: synchronous, and half the
 * CPU of WebCrypto's four async operations (about 80 against 170 us). The NIST curves, used
 * only when a server asks for them by HelloRetryRequest, stay on WebCrypto.
 */

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import { hex16 } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import type { RandomSource } from "../random.ts";

/** NamedGroup code points (RFC 8446 section 4.2.7). */
export const NamedGroup = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  x25519: 0x001d,
} as const;

interface GroupInfo {
  readonly code: number;
  readonly name: string;
  /** Private scalar length in bytes. */
  readonly scalarLength: number;
  /** Wire length of the public key (RFC 8446 4.2.8.2: uncompressed points for NIST curves). */
  readonly publicLength: number;
  readonly webCrypto: { name: "X25519" } | { name: "ECDH"; namedCurve: "P-256" | "P-384" };
  /** Curve order n for rejection sampling of NIST scalars (big-endian hex). */
  readonly order?: string;
  readonly oid: number[];
}

const GROUPS: readonly GroupInfo[] = [
  {
    code: 0x001d,
    name: "x25519",
    scalarLength: 32,
    publicLength: 32,
    webCrypto: { name: "X25519" },
    oid: [0x2b, 0x65, 0x6e],
  },
  {
    code: 0x0017,
    name: "secp256r1",
    scalarLength: 32,
    publicLength: 65,
    webCrypto: { name: "ECDH", namedCurve: "P-256" },
    order: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    oid: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
  },
  {
    code: 0x0018,
    name: "secp384r1",
    scalarLength: 48,
    publicLength: 97,
    webCrypto: { name: "ECDH", namedCurve: "P-384" },
    order: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf" +
      "581a0db248b0a77aecec196accc52973",
    oid: [0x2b, 0x81, 0x04, 0x00, 0x22],
  },
];

const BY_CODE = new Map(GROUPS.map((g) => [g.code, g]));

/** x25519 first: fast and constant-time; NIST curves for servers that insist (via HRR). */
export const DEFAULT_GROUPS: readonly number[] = [0x001d, 0x0017, 0x0018];

export function isSupportedGroup(code: number): boolean {
  return BY_CODE.has(code);
}

export function groupName(code: number): string {
  return BY_CODE.get(code)?.name ?? hex16(code);
}

/** Checks a caller-supplied group list (tests restrict or reorder it); throws a RangeError. */
export function checkGroups(codes: readonly number[]): readonly number[] {
  if (codes.length === 0) throw new RangeError("Invalid groups: the list is empty");
  for (const c of codes) {
    if (!BY_CODE.has(c)) {
      throw new RangeError(
        `Invalid group ${hex16(c)}: supported are ${GROUPS.map((g) => g.name).join(", ")}`,
      );
    }
  }
  if (new Set(codes).size !== codes.length) {
    throw new RangeError("Invalid groups: a group is listed twice");
  }
  return codes;
}

/** DER prefix of an X25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32-byte key. */
const X25519_SPKI_PREFIX = new Uint8Array([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);

/** Our half of a key exchange: the public share to send and the private key to finish it. */
export class KeyShare {
  private constructor(
    readonly group: number,
    readonly publicKey: Uint8Array,
    private readonly privateKey: CryptoKey | KeyObject,
  ) {}

  /** Generates a key pair for `group` from `random`. */
  static async generate(group: number, random: RandomSource): Promise<KeyShare> {
    const info = BY_CODE.get(group);
    if (!info) throw new RangeError(`Unsupported group ${hex16(group)}`);
    const scalar = drawScalar(info, random);
    if (info.code === NamedGroup.x25519) {
      const privateKey = createPrivateKey({
        key: pkcs8(info, scalar) as Buffer,
        format: "der",
        type: "pkcs8",
      });
      const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
      const publicKey = new Uint8Array(spki.subarray(X25519_SPKI_PREFIX.length));
      return new KeyShare(group, publicKey, privateKey);
    }
    const privateKey = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8(info, scalar) as BufferSource,
      info.webCrypto,
      true,
      ["deriveBits"],
    );
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const x = base64UrlDecode(jwk.x!);
    const publicKey = new Uint8Array([0x04, ...x, ...base64UrlDecode(jwk.y!)]);
    return new KeyShare(group, publicKey, privateKey);
  }

  /**
   * The shared secret with the server's share (RFC 8446 section 7.4): the X25519 output, or the
   * x coordinate of the ECDH point. The server's share is validated first: its length, the
   * uncompressed point form, that it is on the curve, and a non-zero X25519 result.
   */
  async sharedSecret(peer: Uint8Array): Promise<Uint8Array> {
    const info = BY_CODE.get(this.group)!;
    const bad = (why: string, cause?: unknown) =>
      new TlsPeerMisbehavedError(
        `Server sent an invalid ${info.name} key share: ${why}`,
        "illegal_parameter",
        { cause },
      );
    if (peer.length !== info.publicLength) {
      throw bad(`${peer.length} bytes, expected ${info.publicLength}`);
    }
    if (info.code !== NamedGroup.x25519 && peer[0] !== 0x04) throw bad("not an uncompressed point");
    const out = this.privateKey instanceof CryptoKey
      ? await this.#webSharedSecret(info, peer, bad)
      : x25519SharedSecret(this.privateKey, peer, bad);
    if (out.every((b) => b === 0)) throw bad("the shared secret is all zeros");
    return out;
  }

  async #webSharedSecret(
    info: GroupInfo,
    peer: Uint8Array,
    bad: (why: string, cause?: unknown) => Error,
  ): Promise<Uint8Array> {
    let peerKey: CryptoKey;
    try {
      peerKey = await crypto.subtle.importKey(
        "raw",
        peer as BufferSource,
        info.webCrypto,
        true,
        [],
      );
    } catch (err) {
      throw bad("not a point on the curve", err);
    }
    let bits: ArrayBuffer;
    try {
      bits = await crypto.subtle.deriveBits(
        { name: info.webCrypto.name, public: peerKey },
        this.privateKey as CryptoKey,
        info.scalarLength * 8,
      );
    } catch (err) {
      throw bad("the key agreement failed", err);
    }
    return new Uint8Array(bits);
  }
}

/** X25519 (RFC 7748) on node:crypto. */
function x25519SharedSecret(
  privateKey: KeyObject,
  peer: Uint8Array,
  bad: (why: string, cause?: unknown) => Error,
): Uint8Array {
  const spki = new Uint8Array(X25519_SPKI_PREFIX.length + peer.length);
  spki.set(X25519_SPKI_PREFIX);
  spki.set(peer, X25519_SPKI_PREFIX.length);
  try {
    const publicKey = createPublicKey({ key: spki as Buffer, format: "der", type: "spki" });
    return new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch (err) {
    // RFC 8446 7.4.2: an all-zero X25519 result (a low-order point) must be refused; a library
    // may refuse it itself.
    throw bad("the key agreement failed (low-order point?)", err);
  }
}

/** A private scalar: any 32 bytes for X25519; for NIST curves 1 <= d < n, by rejection. */
function drawScalar(info: GroupInfo, random: RandomSource): Uint8Array {
  for (let attempt = 0; attempt < 64; attempt++) {
    const d = random.bytes(info.scalarLength);
    if (!info.order) return d;
    const hex = Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
    if (/[^0]/.test(hex) && hex < info.order) return d; // same-length lowercase hex compares as numbers
  }
  throw new Error(`Random source gave no valid ${info.name} private key in 64 attempts`);
}

/** PKCS#8 PrivateKeyInfo for a raw private key (RFC 5208, RFC 5915, RFC 8410). */
function pkcs8(info: GroupInfo, scalar: Uint8Array): Uint8Array {
  const der = (tag: number, body: number[]) => [tag, body.length, ...body];
  const oid = (o: number[]) => der(0x06, o);
  if (info.code === NamedGroup.x25519) {
    return new Uint8Array(
      der(0x30, [
        ...der(0x02, [0]),
        ...der(0x30, oid(info.oid)),
        ...der(0x04, der(0x04, [...scalar])),
      ]),
    );
  }
  const idEcPublicKey = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
  const ecPrivateKey = der(0x30, [...der(0x02, [1]), ...der(0x04, [...scalar])]);
  return new Uint8Array(
    der(0x30, [
      ...der(0x02, [0]),
      ...der(0x30, [...oid(idEcPublicKey), ...oid(info.oid)]),
      ...der(0x04, ecPrivateKey),
    ]),
  );
}

function base64UrlDecode(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
}
