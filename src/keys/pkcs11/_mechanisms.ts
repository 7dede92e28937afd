/**
 * TLS signature schemes (RFC 8446 section 4.2.3) as Cryptoki mechanisms (COMPAT.md section 2):
 * ECDSA and RSA-PSS get a digest computed on the host; EdDSA signs the message. RSA PKCS#1
 * v1.5 (TLS 1.2 only) uses the token's CKM_SHA256_RSA_PKCS (and _384, _512), which hash on
 * the token, or where the token lists only CKM_RSA_PKCS, the host hashes and wraps the digest
 * in its DigestInfo (RFC 8017 section 9.2) for the token's raw PKCS#1 v1.5 signature; both
 * give the same, deterministic signature.
 */
import { hashLength, type HashName, schemeInfo, schemesForKeyType } from "../schemes.ts";
import type { KeyType } from "../signing_key.ts";
import { CKM_EDDSA, type Handle, pkcs11js, type Pkcs11Module, rvOf } from "./_module.ts";

export const CKM = {
  RSA_PKCS: 0x00000001, // CKM_RSA_PKCS
  RSA_PKCS_PSS: 0x0000000d, // CKM_RSA_PKCS_PSS
  SHA256_RSA_PKCS: 0x00000040, // CKM_SHA256_RSA_PKCS
  SHA384_RSA_PKCS: 0x00000041, // CKM_SHA384_RSA_PKCS
  SHA512_RSA_PKCS: 0x00000042, // CKM_SHA512_RSA_PKCS
  ECDSA: 0x00001041, // CKM_ECDSA
  EDDSA: CKM_EDDSA, // CKM_EDDSA (PKCS#11 v3.0)
  SHA256: 0x00000250,
  SHA384: 0x00000260,
  SHA512: 0x00000270,
} as const;

const CKG_MGF1: Record<HashName, number> = {
  "SHA-256": 0x00000002, // CKG_MGF1_SHA256
  "SHA-384": 0x00000003, // CKG_MGF1_SHA384
  "SHA-512": 0x00000004, // CKG_MGF1_SHA512
};
const CKM_HASH: Record<HashName, number> = {
  "SHA-256": CKM.SHA256,
  "SHA-384": CKM.SHA384,
  "SHA-512": CKM.SHA512,
};

const CKM_HASH_RSA_PKCS: Record<HashName, number> = {
  "SHA-256": CKM.SHA256_RSA_PKCS,
  "SHA-384": CKM.SHA384_RSA_PKCS,
  "SHA-512": CKM.SHA512_RSA_PKCS,
};

/**
 * DER of DigestInfo up to the digest: SEQUENCE { AlgorithmIdentifier { hash OID, NULL },
 * OCTET STRING of hLen bytes } (RFC 8017 section 9.2, note 1).
 */
const DIGEST_INFO_PREFIX: Record<HashName, Uint8Array> = {
  "SHA-256": digestInfoPrefix(0x01, 32),
  "SHA-384": digestInfoPrefix(0x02, 48),
  "SHA-512": digestInfoPrefix(0x03, 64),
};

/** 30 (19 + hLen) 30 0d 06 09 60 86 48 01 65 03 04 02 <n> 05 00 04 <hLen>. */
function digestInfoPrefix(oidLast: number, hLen: number): Uint8Array {
  const oid = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, oidLast];
  return new Uint8Array([0x30, 17 + hLen, 0x30, 0x0d, ...oid, 0x05, 0x00, 0x04, hLen]);
}

const CKF_SIGN = 0x800;

export interface SchemeMechanism {
  readonly mechanism: pkcs11js.Mechanism;
  /** Digest the message with this hash on the host first (ECDSA, RSA-PSS, raw PKCS#1). */
  readonly prehash?: HashName;
  /** Put this DigestInfo prefix before the digest (CKM_RSA_PKCS). */
  readonly digestInfo?: Uint8Array;
  readonly ecdsa: boolean;
}

/** What the token signs for `mech`: the message, its digest, or DigestInfo || digest. */
export async function signInput(
  mech: SchemeMechanism,
  message: Uint8Array,
): Promise<Uint8Array> {
  if (!mech.prehash) return new Uint8Array(message);
  const digest = new Uint8Array(await crypto.subtle.digest(mech.prehash, new Uint8Array(message)));
  if (!mech.digestInfo) return digest;
  const out = new Uint8Array(mech.digestInfo.length + digest.length);
  out.set(mech.digestInfo);
  out.set(digest, mech.digestInfo.length);
  return out;
}

/**
 * The mechanism (and parameters) that produces `scheme`. For RSA PKCS#1 v1.5 the hashing one
 * unless `available` (the token's mechanisms) lacks it and has CKM_RSA_PKCS.
 */
export function mechanismFor(scheme: number, available?: ReadonlySet<number>): SchemeMechanism {
  const info = schemeInfo(scheme);
  switch (info?.algorithm) {
    case "ecdsa":
      return { mechanism: { mechanism: CKM.ECDSA }, prehash: info.hash, ecdsa: true };
    case "rsa-pss": {
      const hash = info.hash!;
      // RFC 8446 section 4.2.3: MGF1 with the same hash, salt as long as the digest.
      const parameter: pkcs11js.RsaPSS = {
        type: pkcs11js.CK_PARAMS_RSA_PSS,
        hashAlg: CKM_HASH[hash],
        mgf: CKG_MGF1[hash],
        saltLen: hashLength(hash),
      };
      return { mechanism: { mechanism: CKM.RSA_PKCS_PSS, parameter }, prehash: hash, ecdsa: false };
    }
    case "rsa-pkcs1": {
      const hash = info.hash!;
      const hashing = CKM_HASH_RSA_PKCS[hash];
      if (!available || available.has(hashing) || !available.has(CKM.RSA_PKCS)) {
        return { mechanism: { mechanism: hashing }, ecdsa: false };
      }
      return {
        mechanism: { mechanism: CKM.RSA_PKCS },
        prehash: hash,
        digestInfo: DIGEST_INFO_PREFIX[hash],
        ecdsa: false,
      };
    }
    case "ed25519":
      return { mechanism: { mechanism: CKM.EDDSA }, ecdsa: false };
    default:
      throw new RangeError(`No PKCS#11 mechanism for signature scheme 0x${scheme.toString(16)}`);
  }
}

/** Mechanisms the token can sign with (C_GetMechanismList, then CKF_SIGN in the info). */
export function signMechanisms(mod: Pkcs11Module, slot: Handle): Set<number> {
  const what = "Cannot list the token's mechanisms";
  const all = mod.call("C_GetMechanismList", what, (p) => p.C_GetMechanismList(slot));
  const out = new Set<number>();
  const wanted = [
    CKM.ECDSA,
    CKM.RSA_PKCS_PSS,
    CKM.EDDSA,
    CKM.RSA_PKCS,
    CKM.SHA256_RSA_PKCS,
    CKM.SHA384_RSA_PKCS,
    CKM.SHA512_RSA_PKCS,
  ];
  for (const m of wanted) {
    if (!all.includes(m)) continue;
    try {
      if (mod.p11.C_GetMechanismInfo(slot, m).flags & CKF_SIGN) out.add(m);
    } catch (e) {
      // A token that lists a mechanism but cannot describe it: trust the list.
      if (rvOf(e)) out.add(m);
      else throw e;
    }
  }
  return out;
}

/** The schemes a key of `keyType` can produce with the token's mechanisms, preferred first. */
export function tokenSchemes(keyType: KeyType, mechanisms: ReadonlySet<number>): number[] {
  return schemesForKeyType(keyType).filter((s) =>
    mechanisms.has(mechanismFor(s, mechanisms).mechanism.mechanism)
  );
}
