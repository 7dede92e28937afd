/**
 * Certificates: strict parsing (RFC 5280 section 4.1), PEM chains and files, and small helpers
 * (common name, SPKI, key match).
 *
 * One pass of the strict DER reader (der.ts) gives the exact slices that trust decisions use
 * (the signed TBS bytes, raw issuer and subject names, SPKI, extensions read by
 * `_extensions.ts`), never a re-encoding; the subject and issuer text and the validity dates
 * are decoded from them too (`_name.ts`). No general ASN.1 library is involved: parsing a
 * server's chain is on the path of every handshake.
 */
import {
  bytesEqual,
  children,
  decodeSmallUint,
  DerError,
  hex,
  readOne,
  TAG,
  type Tlv,
} from "./der.ts";
import { type Extensions, parseExtensions } from "./_extensions.ts";
import { COMMON_NAME, decodeTime, formatName, nameValues } from "./_name.ts";
import { CertificateError, CertificateFileError } from "./errors.ts";
import { decodePem } from "./pem.ts";

/** The DER pieces of a certificate that verification depends on. */
export interface CertificateParts {
  readonly der: Uint8Array;
  /** TBSCertificate: the bytes the issuer signed. */
  readonly tbs: Uint8Array;
  /** signatureAlgorithm (outer), identical to the TBS `signature` field. */
  readonly signatureAlgorithm: Tlv;
  readonly signature: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  readonly serial: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Validity, in milliseconds since the epoch (numbers: a Date could be changed under us). */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
  readonly extensions: Extensions;
}

/** A parsed X.509 certificate (made by parseCertificate). */
export class X509Certificate {
  readonly #parts: CertificateParts;
  /** The subject as text: `CN=broker.example, O=Acme`. */
  readonly subject: string;
  /** The issuer as text. */
  readonly issuer: string;
  /** The serial number in hex (without the sign byte of a positive number). */
  readonly serialNumber: string;

  private constructor(parts: CertificateParts) {
    this.#parts = parts;
    this.subject = formatName(parts.subject);
    this.issuer = formatName(parts.issuer);
    const s = parts.serial;
    this.serialNumber = hex(s.length > 1 && s[0] === 0 ? s.subarray(1) : s);
  }

  /** Start of validity (a new Date on each call). */
  get notBefore(): Date {
    return new Date(this.#parts.notBefore);
  }

  /** End of validity (a new Date on each call). */
  get notAfter(): Date {
    return new Date(this.#parts.notAfter);
  }

  /** @internal parseCertificate() only. */
  static fromParts(parts: CertificateParts): X509Certificate {
    return new X509Certificate(parts);
  }

  /** @internal the DER pieces (partsOf()). */
  static partsOf(cert: X509Certificate): CertificateParts {
    return cert.#parts;
  }

  /** The subject's common names (CN), in order. */
  get commonNames(): string[] {
    return nameValues(this.#parts.subject, COMMON_NAME);
  }

  toString(): string {
    return `[X509Certificate ${this.subject}]`;
  }
}

/** Splits a DER certificate; throws DerError on anything that is not strict DER X.509. */
function splitCertificate(der: Uint8Array): CertificateParts {
  const outer = children(readOne(der, TAG.SEQUENCE));
  if (outer.length !== 3) throw new DerError("Certificate is not a SEQUENCE of 3 elements");
  const [tbsTlv, sigAlg, sigValue] = outer;
  if (tbsTlv.tag !== TAG.SEQUENCE) throw new DerError("malformed TBSCertificate");
  const tbs = children(tbsTlv);
  let i = 0;
  let version = 1;
  if (tbs[i]?.tag === 0xa0) {
    version = decodeSmallUint(readOne(tbs[i++].value)) + 1;
    // DER: the DEFAULT v1 is never encoded.
    if (version < 2 || version > 3) throw new DerError(`bad version ${version}`);
  }
  const [serial, innerAlg, issuer, validity, subject, spki] = tbs.slice(i, i + 6);
  if (!spki) throw new DerError("TBSCertificate is too short");
  if (serial.tag !== TAG.INTEGER || validity.tag !== TAG.SEQUENCE) {
    throw new DerError("malformed TBSCertificate");
  }
  for (const t of [innerAlg, issuer, subject, spki, sigAlg]) {
    if (t.tag !== TAG.SEQUENCE) throw new DerError("malformed TBSCertificate");
  }
  // RFC 5280 4.1.1.2: the outer algorithm MUST be the same as the signed one.
  if (!bytesEqual(innerAlg.bytes, sigAlg.bytes)) {
    throw new DerError("signatureAlgorithm differs from the signed TBSCertificate signature field");
  }
  const times = children(validity);
  if (times.length !== 2) throw new DerError("malformed validity");
  i += 6;
  if (tbs[i]?.tag === 0x81 || tbs[i]?.tag === 0xa1) i++; // issuerUniqueID
  if (tbs[i]?.tag === 0x82 || tbs[i]?.tag === 0xa2) i++; // subjectUniqueID
  let extensions: Tlv | undefined;
  if (tbs[i]?.tag === 0xa3) extensions = tbs[i++];
  if (i !== tbs.length) throw new DerError("unexpected element in TBSCertificate");
  if (extensions && version !== 3) throw new DerError("extensions in a version 1 or 2 certificate");
  if (sigValue.tag !== TAG.BIT_STRING || sigValue.value[0] !== 0) {
    throw new DerError("signatureValue is not a whole-byte BIT STRING");
  }
  return {
    der,
    tbs: tbsTlv.bytes,
    signatureAlgorithm: sigAlg,
    signature: sigValue.value.subarray(1),
    version,
    serial: serial.value,
    issuer: issuer.bytes,
    subject: subject.bytes,
    notBefore: decodeTime(times[0]).getTime(),
    notAfter: decodeTime(times[1]).getTime(),
    spki: spki.bytes,
    extensions: parseExtensions(extensions),
  };
}

/**
 * Parses one DER certificate, strictly. Throws a CertificateError (decode_error) naming
 * `where` (e.g. "number 2 of 3 in the chain") when it is not a well-formed X.509 certificate.
 */
export function parseCertificate(der: Uint8Array, where = ""): X509Certificate {
  const bytes = new Uint8Array(der); // a private copy: the parts must not change under us
  try {
    return X509Certificate.fromParts(splitCertificate(bytes));
  } catch (e) {
    const what = where ? `${where} cannot be decoded` : "cannot be decoded";
    throw new CertificateError("decode_error", "", `${what}: ${message(e)}`, { cause: e });
  }
}

/** The DER pieces of `cert`. */
export function partsOf(cert: X509Certificate): CertificateParts {
  return X509Certificate.partsOf(cert);
}

/** The subject as text for messages (`CN=broker.example, O=Acme`), or the serial when empty. */
export function describe(cert: X509Certificate): string {
  return cert.subject || `(empty subject, serial ${cert.serialNumber})`;
}

/** The DER encoding of `cert` (a copy). */
export function derOf(cert: X509Certificate): Uint8Array {
  return partsOf(cert).der.slice();
}

/** The first commonName of the subject, if any (thin-edge's device id). */
export function commonName(cert: X509Certificate): string | undefined {
  return cert.commonNames[0];
}

/** The DER SubjectPublicKeyInfo exactly as it appears in the certificate (a copy). */
export function spkiOf(cert: X509Certificate): Uint8Array {
  return partsOf(cert).spki.slice();
}

/**
 * Whether `spkiDer` is the certificate's public key: a byte comparison of the DER
 * SubjectPublicKeyInfo. Both sides come from DER encoders that emit the same canonical form for
 * the key types we use (uncompressed EC points, NULL RSA parameters).
 */
export function certificateMatchesPublicKey(cert: X509Certificate, spkiDer: Uint8Array): boolean {
  return bytesEqual(partsOf(cert).spki, spkiDer);
}

/**
 * Every CERTIFICATE block of a PEM text, in order (other blocks, such as keys, are skipped).
 * Throws a SyntaxError when there is none or one cannot be decoded.
 */
export function parseCertificateChainPem(text: string): X509Certificate[] {
  const blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) throw new SyntaxError("No PEM certificate found");
  return blocks.map((b, i) => {
    try {
      return parseCertificate(b.der);
    } catch (e) {
      const detail = decodeFailure(e);
      throw new SyntaxError(`Cannot decode certificate ${i + 1} of ${blocks.length}: ${detail}`, {
        cause: e,
      });
    }
  });
}

/**
 * Reads a PEM certificate (chain) file, such as `device.cert_path`: leaf first. Errors name the
 * file and say what is wrong with it.
 */
export async function loadCertificateFile(path: string): Promise<X509Certificate[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new CertificateFileError(path, `Cannot read certificate file "${path}": ${ioReason(e)}`, {
      cause: e,
    });
  }
  try {
    return parseCertificateChainPem(text);
  } catch (e) {
    const why = (e as Error).message.replace(
      /^No PEM certificate found$/,
      "no PEM certificate in it",
    )
      .replace(/^Cannot decode/, "cannot decode");
    throw new CertificateFileError(path, `Cannot use certificate file "${path}": ${why}`, {
      cause: e,
    });
  }
}

/** A short reason for a failed file operation: "file not found", "permission denied", ... */
export function ioReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "file not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return message(e);
}

/** The low-level reason a certificate did not decode (the DER or parser message). */
export function decodeFailure(e: unknown): string {
  return message(e instanceof CertificateError && e.cause ? e.cause : e);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
