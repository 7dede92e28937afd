/**
 * Test-only certificate factory (in-process, WebCrypto + @peculiar/x509): every knob the
 * negative tests need (no cA, pathLen, EKU, dates, unknown critical extensions, name
 * constraints, weak algorithms). tests/helpers/pki.ts makes the well-formed PKI that
 * integration tests use; this one makes broken ones on purpose.
 */
import { x509 } from "./_peculiar.ts";
import { parseCertificate, type X509Certificate } from "./certificate.ts";
import { children, encodeTlv, readOne, TAG } from "./der.ts";
import { ecdsaRawToDer } from "./ecdsa_der.ts";
import { parseIp } from "./hostname.ts";

export type Kind = "rsa" | "rsa-pss" | "rsa1024" | "p256" | "p384" | "p521" | "ed25519";

export interface Issued {
  /** The certificate as our parser reads it. */
  readonly cert: X509Certificate;
  /** As @peculiar/x509 made it (its subject names the issuer of certificates it signs). */
  readonly generated: x509.X509Certificate;
  readonly der: Uint8Array;
  readonly keys: CryptoKeyPair;
  readonly kind: Kind;
}

export interface CertOptions {
  subject: string;
  /** Signer; absent for a self-signed certificate. */
  issuer?: Issued;
  kind?: Kind;
  /** Key cache slot: certificates with the same kind and slot share a key pair. */
  slot?: number;
  /** basicConstraints: null leaves it out. Default: cA true for self-signed, false otherwise. */
  basic?: { ca: boolean; pathLen?: number } | null;
  /** keyUsage flags (x509.KeyUsageFlags); null leaves it out. */
  keyUsage?: number | null;
  /** extendedKeyUsage OIDs; null leaves it out. Default: serverAuth for end entities. */
  eku?: string[] | null;
  dns?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Leaves out subject and authority key identifiers. */
  noKeyIds?: boolean;
  nameConstraints?: { permitted?: Uint8Array[]; excluded?: Uint8Array[] };
  extensions?: x509.Extension[];
  /** Hash for RSA and ECDSA signatures (default SHA-256). */
  hash?: string;
  serial?: string;
}

export const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const DAY = 86_400_000;

const keyCache = new Map<string, Promise<CryptoKeyPair>>();

function keyAlgorithm(kind: Kind): RsaHashedKeyGenParams | EcKeyGenParams | Algorithm {
  if (kind.startsWith("rsa")) {
    return {
      name: kind === "rsa-pss" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: kind === "rsa1024" ? 1024 : 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    } as RsaHashedKeyGenParams;
  }
  if (kind === "ed25519") return { name: "Ed25519" };
  const curves: Record<string, string> = { p256: "P-256", p384: "P-384", p521: "P-521" };
  return { name: "ECDSA", namedCurve: curves[kind] } as EcKeyGenParams;
}

/** A key pair of `kind`, shared by every caller asking for the same slot (RSA is slow). */
export function keyPair(kind: Kind, slot = 0): Promise<CryptoKeyPair> {
  const id = `${kind}/${slot}`;
  let p = keyCache.get(id);
  if (!p) {
    p = crypto.subtle.generateKey(keyAlgorithm(kind), true, ["sign", "verify"]) as Promise<
      CryptoKeyPair
    >;
    keyCache.set(id, p);
  }
  return p;
}

function signingAlgorithm(kind: Kind, hash: string): Algorithm {
  if (kind === "rsa-pss") return { name: "RSA-PSS", hash, saltLength: 32 } as Algorithm;
  if (kind.startsWith("rsa")) return { name: "RSASSA-PKCS1-v1_5", hash } as Algorithm;
  if (kind === "ed25519") return { name: "Ed25519" };
  return { name: "ECDSA", hash } as Algorithm;
}

/** Issues a certificate as described by `o`. */
export async function issue(o: CertOptions): Promise<Issued> {
  const kind = o.kind ?? "p256";
  const keys = await keyPair(kind, o.slot ?? 0);
  const signer: { keys: CryptoKeyPair; kind: Kind } = o.issuer ?? { keys, kind };
  const selfSigned = !o.issuer;
  const ext: x509.Extension[] = [];
  const basic = o.basic === undefined ? { ca: selfSigned } : o.basic;
  if (basic) ext.push(new x509.BasicConstraintsExtension(basic.ca, basic.pathLen, true));
  const ku = o.keyUsage === undefined
    ? (basic?.ca ? x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.digitalSignature)
    : o.keyUsage;
  if (ku !== null) ext.push(new x509.KeyUsagesExtension(ku, true));
  const eku = o.eku === undefined ? (basic?.ca ? null : [SERVER_AUTH]) : o.eku;
  if (eku) ext.push(new x509.ExtendedKeyUsageExtension(eku));
  const names = [
    ...(o.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (names.length) ext.push(new x509.SubjectAlternativeNameExtension(names));
  if (!o.noKeyIds) {
    ext.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
    ext.push(await x509.AuthorityKeyIdentifierExtension.create(signer.keys.publicKey));
  }
  if (o.nameConstraints) ext.push(nameConstraintsExtension(o.nameConstraints));
  ext.push(...(o.extensions ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? randomSerial(),
    subject: o.subject,
    issuer: o.issuer ? o.issuer.generated.subject : o.subject,
    publicKey: keys.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(signer.kind, o.hash ?? "SHA-256"),
    notBefore: o.notBefore ?? new Date(Date.now() - DAY),
    notAfter: o.notAfter ?? new Date(Date.now() + 30 * DAY),
    extensions: ext,
  });
  const der = new Uint8Array(cert.rawData);
  return { cert: parseCertificate(der), generated: cert, der, keys, kind };
}

function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A GeneralSubtree base for nameConstraints: a DNS name or an IP range "10.0.0.0/8". */
export function subtree(value: string): Uint8Array {
  const m = /^(.*)\/(\d+)$/.exec(value);
  let base: Uint8Array;
  if (m) {
    const addr = parseIp(m[1])!;
    const mask = new Uint8Array(addr.length);
    for (let i = 0; i < Number(m[2]); i++) mask[i >> 3] |= 0x80 >> (i & 7);
    const v = new Uint8Array(addr.length * 2);
    v.set(addr);
    v.set(mask, addr.length);
    base = encodeTlv(0x87, v);
  } else if (value.startsWith("dirname:")) {
    base = encodeTlv(0xa4, new Uint8Array(new x509.Name(value.slice(8)).toArrayBuffer()));
  } else {
    base = encodeTlv(0x82, new TextEncoder().encode(value));
  }
  return encodeTlv(TAG.SEQUENCE, base);
}

function nameConstraintsExtension(nc: { permitted?: Uint8Array[]; excluded?: Uint8Array[] }) {
  const parts: Uint8Array[] = [];
  if (nc.permitted) parts.push(encodeTlv(0xa0, ...nc.permitted));
  if (nc.excluded) parts.push(encodeTlv(0xa1, ...nc.excluded));
  return new x509.Extension("2.5.29.30", true, encodeTlv(TAG.SEQUENCE, ...parts));
}

/** root -> intermediate -> leaf for `broker.example`, each key of `kind`. */
export async function simpleChain(kind: Kind = "p256", leaf: Partial<CertOptions> = {}) {
  const root = await issue({ subject: "CN=Test Root", kind, slot: 1 });
  const int = await issue({
    subject: "CN=Test Intermediate",
    issuer: root,
    kind,
    slot: 2,
    basic: { ca: true, pathLen: 0 },
  });
  const server = await issue({
    subject: "CN=broker.example",
    issuer: int,
    kind,
    slot: 3,
    dns: ["broker.example"],
    ...leaf,
  });
  return { root, int, server };
}

/** A copy of `der` with the byte at `index` (negative: from the end) XORed with 0x01. */
export function tamper(der: Uint8Array, index: number): Uint8Array {
  const out = der.slice();
  out[index < 0 ? out.length + index : index] ^= 0x01;
  return out;
}

/**
 * A copy of `cert` whose TBSCertificate fields (DER, in order: version, serial, signature,
 * issuer, validity, subject, spki, extensions) `edit` rewrote, signed again by `issuer` (by
 * itself when absent): for fields @peculiar/x509 will not write, such as a zero serial.
 */
export async function resign(
  cert: Issued,
  edit: (fields: Uint8Array[]) => Uint8Array[],
  issuer?: Issued,
): Promise<Issued> {
  const [tbs, alg] = children(readOne(cert.der, TAG.SEQUENCE));
  const fields = edit(children(tbs).map((t) => t.bytes));
  const newTbs = encodeTlv(TAG.SEQUENCE, ...fields);
  const signer = issuer ?? cert;
  let sig: Uint8Array = new Uint8Array(
    await crypto.subtle.sign(
      signingAlgorithm(signer.kind, "SHA-256"),
      signer.keys.privateKey,
      newTbs,
    ),
  );
  if (signer.kind.startsWith("p")) sig = ecdsaRawToDer(sig);
  const der = encodeTlv(
    TAG.SEQUENCE,
    newTbs,
    alg.bytes,
    encodeTlv(TAG.BIT_STRING, new Uint8Array([0]), sig),
  );
  return { ...cert, cert: parseCertificate(der), der };
}
