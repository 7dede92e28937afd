import { commonName, loadCertificateFile } from "../x509/mod.ts";

/**
 * The CN of the first certificate in `path`, or undefined when the file cannot be read or has
 * no CN: COMPAT.md says device.id comes from the certificate when it is readable, and from the
 * stored value otherwise.
 */
export async function readCertificateCn(path: string): Promise<string | undefined> {
  try {
    const [leaf] = await loadCertificateFile(path);
    return leaf ? commonName(leaf) : undefined;
  } catch {
    return undefined;
  }
}
