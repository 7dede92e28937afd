/**
 * Private keys in PEM files, signed with WebCrypto. Accepted: PKCS#8 `PRIVATE KEY`, SEC1
 * `EC PRIVATE KEY` and PKCS#1 `RSA PRIVATE KEY`, holding P-256, P-384, P-521, RSA (2048 bits
 * or more) or Ed25519. Encrypted keys are refused with the command that decrypts them.
 */
import { decodePem, der, ecdsaRawToDer, type PemBlock } from "../../x509/mod.ts";
import { type ClosableSigningKey, makeSigningKey } from "../_key_base.ts";
import { KeyFileError } from "../errors.ts";
import { hashLength, type HashName, schemeInfo, schemesForKeyType } from "../schemes.ts";
import type { KeyType } from "../signing_key.ts";
import { describeKeyType } from "../spki.ts";
import {
  pkcs1ToPkcs8,
  type Pkcs8Algorithm,
  pkcs8Algorithm,
  sec1ToPkcs8,
  UnsupportedKeyType,
} from "./_pkcs8.ts";

/** RSA keys below this size are refused (NIST SP 800-131A). */
export const MIN_FILE_RSA_BITS = 2048;

const SUPPORTED = "P-256, P-384, P-521, RSA (2048 bits or more) or Ed25519";

/** Loads a PEM private key file; throws a `KeyFileError` (exit 78) naming the file. */
export async function loadFileKey(path: string): Promise<ClosableSigningKey> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const detail = e instanceof Deno.errors.NotFound
      ? "file not found"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : String((e as Error).message ?? e);
    throw new KeyFileError(path, detail, { cause: e });
  }
  const { pkcs8, algorithm } = readPrivateKeyPem(path, text);
  try {
    return await importPkcs8(path, pkcs8, algorithm);
  } finally {
    pkcs8.fill(0);
  }
}

/** The PKCS#8 bytes and algorithm of the first private key block in `text`. */
export function readPrivateKeyPem(
  path: string,
  text: string,
): { pkcs8: Uint8Array; algorithm: Pkcs8Algorithm } {
  let blocks: PemBlock[];
  try {
    blocks = decodePem(text);
  } catch (e) {
    throw new KeyFileError(path, (e as Error).message, { cause: e });
  }
  const block = blocks.find((b) => b.label.endsWith("PRIVATE KEY"));
  if (!block) {
    const found = blocks.length
      ? `found only ${blocks.map((b) => `"${b.label}"`).join(", ")}`
      : "no PEM block found";
    throw new KeyFileError(
      path,
      `no private key in it (${found}); expected "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"`,
    );
  }
  if (
    block.label === "ENCRYPTED PRIVATE KEY" || /ENCRYPTED/i.test(block.headers["Proc-Type"] ?? "")
  ) {
    const kind = block.label === "ENCRYPTED PRIVATE KEY"
      ? "an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY)"
      : `an encrypted "${block.label}" (Proc-Type: 4,ENCRYPTED)`;
    throw new KeyFileError(
      path,
      `it is ${kind}; store it unencrypted with "openssl pkey -in ${path} -out NEW_FILE" ` +
        `and protect the file with its permissions, or keep the key on a token`,
    );
  }
  try {
    switch (block.label) {
      case "PRIVATE KEY":
        return { pkcs8: block.der, algorithm: pkcs8Algorithm(block.der) };
      case "EC PRIVATE KEY": {
        const { pkcs8, curve } = sec1ToPkcs8(block.der);
        return { pkcs8, algorithm: { kind: "ec", curve } };
      }
      case "RSA PRIVATE KEY":
        return { pkcs8: pkcs1ToPkcs8(block.der), algorithm: { kind: "rsa" } };
      default:
        throw new UnsupportedKeyType(`"${block.label}"`);
    }
  } catch (e) {
    if (e instanceof UnsupportedKeyType) {
      throw new KeyFileError(path, `${e.message}; supported are ${SUPPORTED}`, { cause: e });
    }
    throw new KeyFileError(path, `malformed "${block.label}": ${(e as Error).message}`, {
      cause: e,
    });
  }
}

type ImportAlgorithm = EcKeyImportParams | RsaHashedImportParams | Algorithm;

/** WebCrypto import parameters; RSA keys are imported per scheme (PSS or PKCS#1 v1.5, hash). */
function importParams(
  a: Pkcs8Algorithm,
  hash: HashName = "SHA-256",
  rsa: "RSA-PSS" | "RSASSA-PKCS1-v1_5" = "RSA-PSS",
): ImportAlgorithm {
  if (a.kind === "ec") return { name: "ECDSA", namedCurve: a.curve };
  if (a.kind === "rsa") return { name: rsa, hash };
  return { name: "Ed25519" };
}

async function importPkcs8(
  path: string,
  pkcs8: Uint8Array,
  algorithm: Pkcs8Algorithm,
): Promise<ClosableSigningKey> {
  let first: CryptoKey;
  try {
    // Extractable once, only to derive the public half (WebCrypto has no private->public call).
    first = await crypto.subtle.importKey(
      "pkcs8",
      new Uint8Array(pkcs8),
      importParams(algorithm),
      true,
      [
        "sign",
      ],
    );
  } catch (e) {
    throw new KeyFileError(path, `WebCrypto cannot import the key: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const { spki, keyType } = await publicHalf(first, algorithm);
  if (keyType.kind === "rsa" && keyType.bits < MIN_FILE_RSA_BITS) {
    throw new KeyFileError(
      path,
      `RSA key of ${keyType.bits} bits is too small; use at least ${MIN_FILE_RSA_BITS}`,
    );
  }
  // The signing keys are not extractable; WebCrypto binds the RSA padding and hash at import,
  // so one per scheme.
  const schemes = schemesForKeyType(keyType);
  const keys = new Map<number, CryptoKey>();
  for (const scheme of schemes) {
    const info = schemeInfo(scheme)!;
    const rsa = info.algorithm === "rsa-pkcs1" ? "RSASSA-PKCS1-v1_5" : "RSA-PSS";
    const params = importParams(algorithm, info.hash, rsa);
    keys.set(
      scheme,
      await crypto.subtle.importKey("pkcs8", new Uint8Array(pkcs8), params, false, ["sign"]),
    );
  }
  return makeSigningKey({
    description: `file "${path}" (${describeKeyType(keyType)})`,
    keyType,
    publicKeySpki: spki,
    schemes,
    async sign(scheme, message) {
      const info = schemeInfo(scheme)!;
      const key = keys.get(scheme)!;
      const data = new Uint8Array(message);
      if (info.algorithm === "ecdsa") {
        const raw = await crypto.subtle.sign({ name: "ECDSA", hash: info.hash! }, key, data);
        return ecdsaRawToDer(new Uint8Array(raw));
      }
      if (info.algorithm === "rsa-pss") {
        const saltLength = hashLength(info.hash!);
        return new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength }, key, data));
      }
      if (info.algorithm === "rsa-pkcs1") {
        return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data));
      }
      return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, data));
    },
  });
}

/** The SPKI and key type of a private CryptoKey, through its public JWK members. */
async function publicHalf(
  key: CryptoKey,
  algorithm: Pkcs8Algorithm,
): Promise<{ spki: Uint8Array; keyType: KeyType }> {
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const pub: JsonWebKey = algorithm.kind === "rsa"
    ? { kty: "RSA", n: jwk.n, e: jwk.e }
    : algorithm.kind === "ec"
    ? { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y }
    : { kty: "OKP", crv: jwk.crv, x: jwk.x };
  const params = algorithm.kind === "rsa"
    ? { name: "RSA-PSS", hash: "SHA-256" }
    : importParams(algorithm);
  const publicKey = await crypto.subtle.importKey("jwk", pub, params, true, ["verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  let keyType: KeyType;
  if (algorithm.kind === "rsa") {
    const n = Uint8Array.from(
      atob(jwk.n!.replace(/-/g, "+").replace(/_/g, "/")),
      (c) => c.charCodeAt(0),
    );
    keyType = { kind: "rsa", bits: der.bitLength(n) };
  } else if (algorithm.kind === "ec") {
    keyType = { kind: "ec", curve: algorithm.curve };
  } else {
    keyType = { kind: "ed25519" };
  }
  return { spki, keyType };
}
