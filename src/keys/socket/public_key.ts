/**
 * Public keys as tedge-p11-server sends them (GetPublicKeyPemResponse, CreateKeyResponse): a
 * "PUBLIC KEY" PEM block that holds only the SubjectPublicKeyInfo's subjectPublicKey bits, not
 * the whole SPKI (thin-edge feeds them to rcgen as the key's raw bytes):
 *
 *   EC        the uncompressed point 04 || x || y (SEC 1 section 2.3.3; 65/97/133 bytes)
 *   RSA       RSAPublicKey ::= SEQUENCE { modulus, publicExponent } (RFC 8017 appendix A.1.1)
 *   Ed25519   the 32-byte key (RFC 8410 section 4; hsm-bridge p11-server only)
 *
 * Reading also accepts a whole SPKI, in case a server ever sends the standard form.
 */
import { decodePem, der, encodePem } from "../../x509/mod.ts";
import { type Curve, ecSpki, ed25519Spki, parseSpki, rsaSpki } from "../spki.ts";

const POINT_CURVE = new Map<number, Curve>([[65, "P-256"], [97, "P-384"], [133, "P-521"]]);

/** The PEM tedge-p11-server would send for the key in `spki`. */
export function encodeServerPublicKey(spki: Uint8Array): string {
  parseSpki(spki); // only key types that can be rebuilt from their bits
  const [, key] = der.children(der.readOne(spki, der.TAG.SEQUENCE), 2);
  return encodePem("PUBLIC KEY", der.decodeWholeBitString(key));
}

/** The SPKI of a public key PEM from tedge-p11-server; a RangeError says what it is not. */
export function decodeServerPublicKey(pem: string): Uint8Array {
  const block = decodePem(pem).find((b) => b.label === "PUBLIC KEY");
  if (!block) throw new RangeError(`no "PUBLIC KEY" PEM block`);
  const bits = block.der;
  // Bare Ed25519 bits first: a 32-byte key may well start with 0x30, the SEQUENCE tag, and no
  // DER key of ours is 32 bytes long (the shortest, a P-256 SPKI, is 91).
  if (bits.length === 32) return ed25519Spki(bits);
  if (bits.length > 0 && bits[0] === der.TAG.SEQUENCE) {
    const [first] = der.children(der.readOne(bits, der.TAG.SEQUENCE), 2);
    // An SPKI starts with its AlgorithmIdentifier (a SEQUENCE), RSAPublicKey with an INTEGER.
    if (first.tag === der.TAG.SEQUENCE) {
      parseSpki(bits);
      return bits;
    }
    const [n, e] = der.children(der.readOne(bits, der.TAG.SEQUENCE), 2);
    return rsaSpki(der.decodeUnsignedInteger(n), der.decodeUnsignedInteger(e));
  }
  const curve = POINT_CURVE.get(bits.length);
  if (curve && bits[0] === 0x04) return ecSpki(curve, bits);
  throw new RangeError(`${bits.length} bytes that are no EC point, RSA key or Ed25519 key`);
}
