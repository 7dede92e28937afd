/**
 * A throw-away PKI for tests, made in-process with WebCrypto and @peculiar/x509 (fast: no
 * openssl processes on a 2-CPU machine). Keys are written as PKCS#8 PEM so that openssl,
 * GnuTLS, mosquitto and softhsm2-util can read them.
 *
 *   root CA ──> [intermediate CA] ──> server certificate (SAN: DNS names, IPs)
 *           └─────────────────────────> client / device certificate (any public key, e.g. a
 *                                       token key given as SPKI)
 */
import { x509 } from "../../src/x509/testing.ts";
import { encodePem } from "../../src/x509/pem.ts";

export type KeyKind = "p256" | "p384" | "rsa2048" | "rsa3072" | "ed25519";

export const KEY_KINDS: readonly KeyKind[] = ["p256", "p384", "rsa2048", "rsa3072", "ed25519"];

function algorithmFor(kind: KeyKind): RsaHashedKeyGenParams | EcKeyGenParams | Algorithm {
  switch (kind) {
    case "p256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "p384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "rsa2048":
    case "rsa3072":
      return {
        name: "RSASSA-PKCS1-v1_5",
        hash: "SHA-256",
        modulusLength: kind === "rsa2048" ? 2048 : 3072,
        publicExponent: new Uint8Array([1, 0, 1]),
      };
    case "ed25519":
      return { name: "Ed25519" };
  }
}

/** The algorithm a CA key of this kind signs certificates with. */
function signingAlgorithmFor(kind: KeyKind): Algorithm | EcdsaParams {
  if (kind === "p256") return { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;
  if (kind === "p384") return { name: "ECDSA", hash: "SHA-384" } as EcdsaParams;
  if (kind === "ed25519") return { name: "Ed25519" };
  return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as Algorithm;
}

export async function generateKeyPair(kind: KeyKind): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(algorithmFor(kind), true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)));
}

export async function spkiOf(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", key));
}

export interface IssuedCertificate {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  /** Leaf then intermediates (not the root), PEM: what a server or device presents. */
  readonly chainPem: string;
  readonly certPath: string;
  /** Path of `chainPem` written to disk. */
  readonly chainPath: string;
  /** Undefined when the certificate was issued for an outside public key (a token key). */
  readonly keys?: CryptoKeyPair;
  readonly keyPath?: string;
}

export interface IssueOptions {
  /** File name stem under the PKI directory. */
  name: string;
  cn: string;
  kind?: KeyKind;
  /** Issue for this public key (DER SPKI) instead of generating a key pair. */
  publicKeySpki?: Uint8Array;
  dns?: string[];
  ips?: string[];
  /** "server" (serverAuth), "client" (clientAuth) or "none" (no EKU extension). */
  usage?: "server" | "client" | "none";
  notBefore?: Date;
  notAfter?: Date;
  /** Sign with this CA instead of the root (see `intermediate()`). */
  issuer?: CertificateAuthority;
  /** Issue a CA certificate (cA true, keyCertSign) instead of an end-entity one. */
  ca?: boolean;
  /** Extensions added to the usual ones. */
  extensions?: x509.Extension[];
}

export interface CertificateAuthority {
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly kind: KeyKind;
  /** PEM of the intermediates between this CA and the root (empty for the root). */
  readonly chainPem: string;
}

const DAY = 86_400_000;

export class TestPki {
  private constructor(
    readonly dir: string,
    readonly root: CertificateAuthority,
    /** Path of the root CA certificate (PEM): the trust store for clients. */
    readonly caPath: string,
  ) {}

  /** A root CA written to `<dir>/ca.pem` (and its key to `<dir>/ca.key`). */
  static async create(dir: string, { kind = "p256" as KeyKind, cn = "Test Root CA" } = {}) {
    await Deno.mkdir(dir, { recursive: true });
    const keys = await generateKeyPair(kind);
    const name = `CN=${cn}`;
    const cert = await x509.X509CertificateGenerator.create({
      subject: name,
      issuer: name,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: signingAlgorithmFor(kind),
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 3650 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const caPath = `${dir}/ca.pem`;
    await Deno.writeTextFile(caPath, cert.toString("pem") + "\n");
    await Deno.writeTextFile(`${dir}/ca.key`, await privateKeyPem(keys.privateKey));
    return new TestPki(dir, { cert, keys, kind, chainPem: "" }, caPath);
  }

  /** An intermediate CA signed by the root (or by `issuer`). */
  async intermediate(
    cn: string,
    {
      kind = "p256" as KeyKind,
      issuer = this.root,
      pathLength = undefined as number | undefined,
      extensions = [] as x509.Extension[],
    } = {},
  ): Promise<CertificateAuthority> {
    const keys = await generateKeyPair(kind);
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${cn}`,
      issuer: issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: signingAlgorithmFor(issuer.kind),
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 365 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(true, pathLength, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
        ...extensions,
      ],
    });
    return { cert, keys, kind, chainPem: cert.toString("pem") + "\n" + issuer.chainPem };
  }

  /** Issues a certificate (and a key, unless `publicKeySpki` is given) into `<dir>/<name>.*`. */
  async issue(opts: IssueOptions): Promise<IssuedCertificate> {
    const issuer = opts.issuer ?? this.root;
    const keys = opts.publicKeySpki ? undefined : await generateKeyPair(opts.kind ?? "p256");
    const publicKey: x509.PublicKeyType = keys
      ? keys.publicKey
      : new Uint8Array(opts.publicKeySpki!);
    const usages = x509.KeyUsageFlags.digitalSignature |
      (opts.ca ? x509.KeyUsageFlags.keyCertSign : 0);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(opts.ca ?? false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      ...(opts.extensions ?? []),
    ];
    const usage = opts.usage ?? "server";
    if (usage !== "none") {
      extensions.push(
        new x509.ExtendedKeyUsageExtension([
          usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
        ]),
      );
    }
    const names = [
      ...(opts.dns ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(opts.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${opts.cn}`,
      issuer: issuer.cert.subject,
      publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: signingAlgorithmFor(issuer.kind),
      notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
      notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
      extensions,
    });
    const certPem = cert.toString("pem") + "\n";
    const chainPem = certPem + issuer.chainPem;
    const stem = `${this.dir}/${opts.name}`;
    await Deno.writeTextFile(`${stem}.crt`, certPem);
    await Deno.writeTextFile(`${stem}.chain.pem`, chainPem);
    let keyPath: string | undefined;
    if (keys) {
      keyPath = `${stem}.key`;
      await Deno.writeTextFile(keyPath, await privateKeyPem(keys.privateKey), { mode: 0o600 });
    }
    return {
      cert,
      certPem,
      chainPem,
      certPath: `${stem}.crt`,
      chainPath: `${stem}.chain.pem`,
      keys,
      keyPath,
    };
  }

  /** A server certificate for 127.0.0.1, ::1 and `localhost` (plus `dns`). */
  server(name = "server", opts: Partial<IssueOptions> = {}): Promise<IssuedCertificate> {
    return this.issue({
      name,
      cn: opts.cn ?? "localhost",
      dns: ["localhost", ...(opts.dns ?? [])],
      ips: ["127.0.0.1", "::1", ...(opts.ips ?? [])],
      usage: "server",
      ...opts,
    });
  }

  /** A device (client) certificate; CN is the device id. */
  device(name: string, cn: string, opts: Partial<IssueOptions> = {}): Promise<IssuedCertificate> {
    return this.issue({ name, cn, usage: "client", ...opts });
  }
}
