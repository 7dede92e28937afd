/**
 * TLS 1.3 signature schemes (RFC 8446 section 4.2.3) as Cryptoki mechanisms (COMPAT.md
 * section 2): ECDSA and RSA-PSS get a digest computed on the host; EdDSA signs the message.
 */
import { hashLength, type HashName, schemeInfo, schemesForKeyType } from "../schemes.ts";
import type { KeyType } from "../signing_key.ts";
import { CKM_EDDSA, type Handle, pkcs11js, type Pkcs11Module, rvOf } from "./_module.ts";

export const CKM = {
  RSA_PKCS_PSS: 0x0000000d, // CKM_RSA_PKCS_PSS
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

const CKF_SIGN = 0x800;

export interface SchemeMechanism {
  readonly mechanism: pkcs11js.Mechanism;
  /** Digest the message with this hash on the host first (ECDSA, RSA-PSS). */
  readonly prehash?: HashName;
  readonly ecdsa: boolean;
}

/** The mechanism (and parameters) that produces `scheme`. */
export function mechanismFor(scheme: number): SchemeMechanism {
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
  for (const m of [CKM.ECDSA, CKM.RSA_PKCS_PSS, CKM.EDDSA]) {
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
    mechanisms.has(mechanismFor(s).mechanism.mechanism)
  );
}
