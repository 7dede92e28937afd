/**
 * The set of trust anchors for the cloud connection (`c8y.root_cert_path`): a PEM file, or a
 * directory read recursively the way OpenSSL-era stores such as /etc/ssl/certs are laid out
 * (hash-named symlinks, bundles, per-CA files, unrelated files). Certificates are deduplicated
 * by their DER bytes.
 */
import { bytesEqual } from "./der.ts";
import {
  decodeFailure,
  ioReason,
  parseCertificate,
  parseCertificateChainPem,
  partsOf,
  type X509Certificate,
} from "./certificate.ts";
import { CertificateFileError } from "./errors.ts";
import { base64Encode, decodePem } from "./pem.ts";

/** Directory levels followed below the store's own directory. */
const MAX_DIR_DEPTH = 16;
/** Files larger than this are not certificate files (a bundle of every public CA is ~250 KB). */
const MAX_FILE_BYTES = 16 << 20;

export class TrustStore {
  readonly #certs: X509Certificate[] = [];
  readonly #byDer = new Set<string>();
  readonly #bySubject = new Map<string, X509Certificate[]>();

  private constructor(
    /** Where the anchors came from, for messages: the path given to `load`, or a label. */
    readonly source: string,
    /** Files and blocks passed over while loading a directory, as `path: reason`. */
    readonly skipped: readonly string[] = [],
  ) {}

  /** Number of distinct certificates. */
  get size(): number {
    return this.#certs.length;
  }

  get certificates(): readonly X509Certificate[] {
    return this.#certs;
  }

  /** A store of these certificates. Throws CertificateError for a malformed one. */
  static fromCertificates(certs: X509Certificate[], source = "given certificates"): TrustStore {
    const store = new TrustStore(source);
    for (const cert of certs) store.#add(cert);
    return store;
  }

  /** A store of every CERTIFICATE block in `text`. Throws SyntaxError when there is none. */
  static fromPem(text: string, source = "PEM text"): TrustStore {
    return TrustStore.fromCertificates(parseCertificateChainPem(text), source);
  }

  /**
   * Loads a PEM file, or every PEM file under a directory (symlinks followed, unreadable and
   * non-PEM files skipped and listed in `skipped`). Throws CertificateFileError (exit code 78)
   * naming the path when it cannot be read or holds no usable certificate.
   */
  static async load(path: string): Promise<TrustStore> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      throw new CertificateFileError(path, `Cannot read trust store "${path}": ${ioReason(e)}`, {
        cause: e,
      });
    }
    if (!info.isDirectory && !info.isFile) {
      throw new CertificateFileError(
        path,
        `Cannot read trust store "${path}": not a regular file or directory`,
      );
    }
    if (info.isFile) return await loadFile(path, info.size);
    const skipped: string[] = [];
    const files = await listFiles(path, skipped);
    const store = new TrustStore(path, skipped);
    for (const file of files) await store.#addFile(file, skipped);
    if (store.size === 0) {
      throw new CertificateFileError(
        path,
        `Cannot use trust store "${path}": no PEM certificate found in ${files.length} files`,
      );
    }
    return store;
  }

  /** Whether this exact certificate (same DER) is a trust anchor. */
  contains(cert: X509Certificate): boolean {
    return this.#byDer.has(base64Encode(partsOf(cert).der));
  }

  /** Anchors whose subject is `cert`'s issuer (byte-equal names, RFC 5280 7.1 simplified). */
  issuersOf(cert: X509Certificate): X509Certificate[] {
    return this.#bySubject.get(base64Encode(partsOf(cert).issuer)) ?? [];
  }

  /** "\"/etc/ssl/certs\" (140 certificates)", for messages. */
  describe(): string {
    return `"${this.source}" (${this.size} certificate${this.size === 1 ? "" : "s"})`;
  }

  #add(cert: X509Certificate): void {
    const parts = partsOf(cert);
    const key = base64Encode(parts.der);
    if (this.#byDer.has(key)) return;
    this.#byDer.add(key);
    this.#certs.push(cert);
    const subject = base64Encode(parts.subject);
    const list = this.#bySubject.get(subject) ?? [];
    list.push(cert);
    this.#bySubject.set(subject, list);
  }

  /** Adds the certificates of one file found in a directory; problems go to `skipped`. */
  async #addFile(file: string, skipped: string[]): Promise<void> {
    let text: string;
    try {
      const bytes = await Deno.readFile(file);
      text = new TextDecoder().decode(bytes);
    } catch (e) {
      skipped.push(`${file}: ${ioReason(e)}`);
      return;
    }
    let blocks;
    try {
      blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE");
    } catch (e) {
      skipped.push(`${file}: ${(e as Error).message}`);
      return;
    }
    if (blocks.length === 0) skipped.push(`${file}: no PEM certificate`);
    for (const [i, block] of blocks.entries()) {
      if (this.#byDer.has(base64Encode(block.der))) continue; // cheap dedupe before parsing
      try {
        this.#add(parseCertificate(block.der));
      } catch (e) {
        skipped.push(`${file}: cannot decode certificate ${i + 1}: ${decodeFailure(e)}`);
      }
    }
  }
}

/** A single PEM file: every certificate in it must decode (the user named this file). */
async function loadFile(path: string, size: number): Promise<TrustStore> {
  let text: string;
  try {
    if (size > MAX_FILE_BYTES) throw new Error(`file of ${size} bytes is too large`);
    text = new TextDecoder().decode(await Deno.readFile(path));
  } catch (e) {
    throw new CertificateFileError(path, `Cannot read trust store "${path}": ${ioReason(e)}`, {
      cause: e,
    });
  }
  try {
    return TrustStore.fromCertificates(parseCertificateChainPem(text), path);
  } catch (e) {
    const why = (e as Error).message.replace(
      /^No PEM certificate found$/,
      "no PEM certificate in it",
    )
      .replace(/^Cannot decode/, "cannot decode");
    throw new CertificateFileError(path, `Cannot use trust store "${path}": ${why}`, { cause: e });
  }
}

/**
 * Regular files under `dir`, recursively, in name order, each real file once (the hash-named
 * symlinks of /etc/ssl/certs point at the same files). Directory symlink loops are cut by
 * remembering real paths.
 */
async function listFiles(root: string, skipped: string[]): Promise<string[]> {
  const files: string[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  const walk = async (dir: string, depth: number) => {
    let real: string;
    const names: string[] = [];
    try {
      real = await Deno.realPath(dir);
      if (seenDirs.has(real)) return;
      seenDirs.add(real);
      for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    } catch (e) {
      skipped.push(`${dir}: ${ioReason(e)}`);
      return;
    }
    names.sort();
    for (const name of names) {
      const path = `${dir.replace(/\/+$/, "")}/${name}`;
      let info: Deno.FileInfo;
      let realFile: string;
      try {
        info = await Deno.stat(path);
        realFile = await Deno.realPath(path);
      } catch (e) {
        skipped.push(`${path}: ${ioReason(e)}`); // a dangling symlink, or no permission
        continue;
      }
      if (info.isDirectory) {
        if (depth < MAX_DIR_DEPTH) await walk(path, depth + 1);
        else skipped.push(`${path}: directory nested too deep`);
      } else if (!info.isFile) {
        skipped.push(`${path}: not a regular file`);
      } else if (info.size > MAX_FILE_BYTES) {
        skipped.push(`${path}: file of ${info.size} bytes is too large`);
      } else if (!seenFiles.has(realFile)) {
        seenFiles.add(realFile);
        files.push(path);
      }
    }
  };
  await walk(root, 0);
  return files;
}

/** Whether two certificates are the same DER. */
export function sameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  return a === b || bytesEqual(partsOf(a).der, partsOf(b).der);
}
