/**
 * What the server does with each request: every Frame1 request variant gets an answer, the
 * way tedge-p11-server's proxy/server.rs gives them:
 * - a response tag sent as a request: `Error("invalid request")`;
 * - a failure of the token side: `Error("PKCS #11 service failed: <reason>")`;
 * - Ping: Pong, without touching the token.
 */
import type { Secret } from "../secret.ts";
import type { CreateKeyFields, Frame1, KeyDetails, TokenDetails } from "../keys/mod.ts";

/** The token side of the server (module_service.ts holds the PKCS#11 module). */
export interface P11Service {
  chooseScheme(
    offered: readonly number[],
    uri: string | undefined,
    pin: Secret | undefined,
  ): Promise<{ scheme: number; algorithm: number }>;
  /** `sigscheme` undefined: the key's default scheme. */
  sign(
    toSign: Uint8Array,
    uri: string | undefined,
    sigscheme: number | undefined,
    pin: Secret | undefined,
  ): Promise<Uint8Array>;
  publicKeyPem(uri: string | undefined): Promise<string>;
  createKey(req: CreateKeyFields): Promise<{ pem: string; uri: string }>;
  tokenUris(): Promise<string[]>;
  listTokens(): Promise<TokenDetails[]>;
  listKeys(uri: string | undefined, pin: Secret | undefined): Promise<KeyDetails[]>;
  /** Releases the token (closes sessions, finalises the module). */
  close(): Promise<void>;
}

/** A request the server understands but does not carry out, and what to use instead. */
const NOT_DONE: Partial<Record<Frame1["type"], string>> = {
  InitTokenRequest: "initialise tokens: use the token's own tool (softhsm2-util --init-token, " +
    "tpm2_ptool, ykman, pkcs11-tool --init-token)",
  ChangePinRequest: "change PINs: use the token's own tool (pkcs11-tool --change-pin, ykman)",
  DeleteKeyRequest: "delete keys: use the token's own tool (pkcs11-tool --delete-object)",
};

/** Thrown for a request that must be answered `Error("invalid request")`. */
class InvalidRequest extends Error {}

/** The answer to one request; never throws (a failure is an Error frame). */
export async function answer(service: P11Service, request: Frame1): Promise<Frame1> {
  try {
    return await carryOut(service, request);
  } catch (e) {
    if (e instanceof InvalidRequest) return { type: "Error", message: "invalid request" };
    return { type: "Error", message: `PKCS #11 service failed: ${(e as Error)?.message ?? e}` };
  }
}

async function carryOut(service: P11Service, r: Frame1): Promise<Frame1> {
  switch (r.type) {
    case "Ping":
      return { type: "Pong" };
    case "ChooseSchemeRequest": {
      const chosen = await service.chooseScheme(r.offered, r.uri, r.pin);
      return { type: "ChooseSchemeResponse", ...chosen };
    }
    case "SignRequest":
    case "SignRequestWithSigScheme": {
      const sigscheme = r.type === "SignRequest" ? undefined : r.sigscheme;
      const signature = await service.sign(r.toSign, r.uri, sigscheme, r.pin);
      return { type: "SignResponse", signature };
    }
    case "GetPublicKeyPemRequest":
      return { type: "GetPublicKeyPemResponse", pem: await service.publicKeyPem(r.uri) };
    case "CreateKeyRequest":
      return { type: "CreateKeyResponse", ...await service.createKey(r) };
    case "GetTokensUrisRequest":
      return { type: "GetTokensUrisResponse", uris: await service.tokenUris() };
    case "ListTokensRequest":
      return { type: "ListTokensResponse", tokens: await service.listTokens() };
    case "ListKeysRequest":
      return { type: "ListKeysResponse", keys: await service.listKeys(r.uri, r.pin) };
    case "InitTokenRequest":
    case "ChangePinRequest":
    case "DeleteKeyRequest":
      throw new Error(`hsm-bridge p11-server does not ${NOT_DONE[r.type]}`);
    case "Error":
    case "ChooseSchemeResponse":
    case "SignResponse":
    case "GetPublicKeyPemResponse":
    case "Pong":
    case "CreateKeyResponse":
    case "GetTokensUrisResponse":
    case "InitTokenResponse":
    case "ListTokensResponse":
    case "ChangePinResponse":
    case "DeleteKeyResponse":
    case "ListKeysResponse":
      throw new InvalidRequest();
  }
}
