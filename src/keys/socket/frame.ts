/**
 * The frames of tedge-p11-server's protocol (thin-edge crates/common/tedge-p11, proxy/frame.rs
 * and frame1.rs): `Frame::Version1(Frame1)` in postcard (see postcard.ts).
 *
 *   frame  = 0x00 (Frame::Version1) Frame1
 *   Frame1 = varint tag, then the variant's fields in declaration order
 *
 * Tags never change and fields are only ever appended, so that old and new peers understand
 * each other: a reader ignores bytes after the fields it knows (postcard's `from_bytes`). An old
 * server cannot parse a tag it does not know; it answers "Failed to parse the received frame"
 * (2.0 and later) or closes the connection without an answer (before 2.0).
 *
 * PINs travel as `Secret`s so that no frame prints one.
 */
import { Secret } from "../../secret.ts";
import { PostcardError, PostcardReader, PostcardWriter } from "./postcard.ts";

/** One token as ListTokensResponse describes it. */
export interface TokenDetails {
  readonly slot: bigint;
  readonly label: string;
  readonly model: string;
  readonly manufacturer: string;
  readonly serial: string;
  readonly initialized: boolean;
  readonly uri: string;
}

/** One key object as ListKeysResponse describes it. */
export interface KeyDetails {
  /** "private" or "public". */
  readonly class: string;
  /** "RSA", "EC", ... ("" when unreadable). */
  readonly keyType: string;
  readonly label: string;
  /** CKA_ID in lower-case hex. */
  readonly id: string;
  readonly uri: string;
}

/** KeyTypeParams of CreateKeyRequest: 0 Rsa { bits: u16 }, 1 Ec { curve: u16 }. */
export type KeyTypeParams =
  | { readonly kind: "rsa"; readonly bits: number }
  | { readonly kind: "ec"; readonly curve: number };

export type Frame1 =
  | { readonly type: "Error"; readonly message: string }
  | {
    readonly type: "ChooseSchemeRequest";
    /** TLS SignatureScheme codes (RFC 8446 section 4.2.3). */
    readonly offered: readonly number[];
    readonly uri?: string;
    readonly pin?: Secret;
  }
  | {
    readonly type: "SignRequest";
    readonly toSign: Uint8Array;
    readonly uri?: string;
    readonly pin?: Secret;
  }
  | {
    readonly type: "ChooseSchemeResponse";
    readonly scheme?: number;
    /** rustls SignatureAlgorithm: RSA 1, ECDSA 3, ED25519 7 (see ALGORITHM). */
    readonly algorithm: number;
  }
  | { readonly type: "SignResponse"; readonly signature: Uint8Array }
  | {
    readonly type: "SignRequestWithSigScheme";
    readonly toSign: Uint8Array;
    readonly uri?: string;
    /** A TLS SignatureScheme code that SIG_SCHEMES lists; undefined: the key's default. */
    readonly sigscheme?: number;
    readonly pin?: Secret;
  }
  | { readonly type: "GetPublicKeyPemRequest"; readonly uri?: string }
  | { readonly type: "GetPublicKeyPemResponse"; readonly pem: string }
  | { readonly type: "Ping" }
  | { readonly type: "Pong" }
  | {
    readonly type: "CreateKeyRequest";
    readonly uri: string;
    readonly key: KeyTypeParams;
    readonly label: string;
    readonly id?: Uint8Array;
    readonly pin?: Secret;
  }
  | { readonly type: "CreateKeyResponse"; readonly pem: string; readonly uri: string }
  | { readonly type: "GetTokensUrisRequest" }
  | { readonly type: "GetTokensUrisResponse"; readonly uris: readonly string[] }
  | {
    readonly type: "InitTokenRequest";
    readonly label: string;
    readonly soPin?: Secret;
    readonly pin?: Secret;
    readonly uri?: string;
  }
  | { readonly type: "InitTokenResponse"; readonly uri: string }
  | { readonly type: "ListTokensRequest" }
  | { readonly type: "ListTokensResponse"; readonly tokens: readonly TokenDetails[] }
  | {
    readonly type: "ChangePinRequest";
    readonly uri?: string;
    readonly newPin: Secret;
    readonly oldPin?: Secret;
    readonly soPin?: Secret;
    readonly reset: boolean;
  }
  | { readonly type: "ChangePinResponse"; readonly uri: string }
  | { readonly type: "DeleteKeyRequest"; readonly uri: string; readonly pin?: Secret }
  | { readonly type: "DeleteKeyResponse"; readonly deleted: readonly string[] }
  | { readonly type: "ListKeysRequest"; readonly uri?: string; readonly pin?: Secret }
  | { readonly type: "ListKeysResponse"; readonly keys: readonly KeyDetails[] };

export type FrameType = Frame1["type"];
/** What a CreateKeyRequest asks for (its fields, without the type). */
export type CreateKeyFields = Omit<Extract<Frame1, { type: "CreateKeyRequest" }>, "type">;
export type FrameOf<T extends FrameType> = Extract<Frame1, { type: T }>;

/** Frame1's variants in tag order: the index is the tag. */
export const FRAME_TYPES = [
  "Error",
  "ChooseSchemeRequest",
  "SignRequest",
  "ChooseSchemeResponse",
  "SignResponse",
  "SignRequestWithSigScheme",
  "GetPublicKeyPemRequest",
  "GetPublicKeyPemResponse",
  "Ping",
  "Pong",
  "CreateKeyRequest",
  "CreateKeyResponse",
  "GetTokensUrisRequest",
  "GetTokensUrisResponse",
  "InitTokenRequest",
  "InitTokenResponse",
  "ListTokensRequest",
  "ListTokensResponse",
  "ChangePinRequest",
  "ChangePinResponse",
  "DeleteKeyRequest",
  "DeleteKeyResponse",
  "ListKeysRequest",
  "ListKeysResponse",
] as const satisfies readonly FrameType[];

export function frameTag(type: FrameType): number {
  return FRAME_TYPES.indexOf(type);
}

/**
 * The SigScheme enum of SignRequestWithSigScheme (tedge-p11 pkcs11/signing.rs), as TLS codes:
 * the index is the postcard variant. TLS 1.3 schemes outside it (rsa_pss_rsae_sha384, ed25519)
 * cannot be asked for by name.
 */
export const SIG_SCHEMES = [
  0x0403, // ecdsa_secp256r1_sha256 (EcdsaNistp256Sha256)
  0x0503, // ecdsa_secp384r1_sha384 (EcdsaNistp384Sha384)
  0x0603, // ecdsa_secp521r1_sha512 (EcdsaNistp521Sha512)
  0x0804, // rsa_pss_rsae_sha256 (RsaPssSha256)
  0x0401, // rsa_pkcs1_sha256 (RsaPkcs1Sha256)
] as const;

/** rustls' SignatureAlgorithm codes, the `algorithm` of ChooseSchemeResponse. */
export const ALGORITHM = { rsa: 1, ecdsa: 3, ed25519: 7 } as const;

// ---- encoding ----

const putPin = (w: PostcardWriter, pin: Secret) => w.str(pin.expose());
const putStr = (w: PostcardWriter, s: string) => w.str(s);

/** Frame1's bytes (without the Frame::Version1 prefix). */
export function encodeFrame1(f: Frame1): Uint8Array {
  const w = new PostcardWriter().varint(frameTag(f.type), 32);
  switch (f.type) {
    case "Error":
      w.str(f.message);
      break;
    case "ChooseSchemeRequest":
      w.seq(f.offered, (w, s) => w.varint(s, 16)).option(f.uri, putStr).option(f.pin, putPin);
      break;
    case "SignRequest":
      w.bytes(f.toSign).option(f.uri, putStr).option(f.pin, putPin);
      break;
    case "ChooseSchemeResponse":
      w.option(f.scheme, (w, s) => w.varint(s, 16)).u8(f.algorithm);
      break;
    case "SignResponse":
      w.bytes(f.signature);
      break;
    case "SignRequestWithSigScheme":
      w.bytes(f.toSign).option(f.uri, putStr)
        .option(f.sigscheme, (w, s) => w.varint(sigSchemeIndex(s), 32))
        .option(f.pin, putPin);
      break;
    case "GetPublicKeyPemRequest":
      w.option(f.uri, putStr);
      break;
    case "GetPublicKeyPemResponse":
      w.str(f.pem);
      break;
    case "CreateKeyRequest":
      w.str(f.uri).varint(f.key.kind === "rsa" ? 0 : 1, 32)
        .varint(f.key.kind === "rsa" ? f.key.bits : f.key.curve, 16)
        .str(f.label).option(f.id, (w, id) => w.bytes(id)).option(f.pin, putPin);
      break;
    case "CreateKeyResponse":
      w.str(f.pem).str(f.uri);
      break;
    case "GetTokensUrisResponse":
      w.seq(f.uris, putStr);
      break;
    case "InitTokenRequest":
      w.str(f.label).option(f.soPin, putPin).option(f.pin, putPin).option(f.uri, putStr);
      break;
    case "InitTokenResponse":
    case "ChangePinResponse":
      w.str(f.uri);
      break;
    case "ListTokensResponse":
      w.seq(
        f.tokens,
        (w, t) =>
          w.varint(t.slot, 64).str(t.label).str(t.model).str(t.manufacturer).str(t.serial)
            .bool(t.initialized).str(t.uri),
      );
      break;
    case "ChangePinRequest":
      w.option(f.uri, putStr).str(f.newPin.expose()).option(f.oldPin, putPin)
        .option(f.soPin, putPin).bool(f.reset);
      break;
    case "DeleteKeyRequest":
      w.str(f.uri).option(f.pin, putPin);
      break;
    case "DeleteKeyResponse":
      w.seq(f.deleted, putStr);
      break;
    case "ListKeysRequest":
      w.option(f.uri, putStr).option(f.pin, putPin);
      break;
    case "ListKeysResponse":
      w.seq(f.keys, (w, k) => w.str(k.class).str(k.keyType).str(k.label).str(k.id).str(k.uri));
      break;
    case "Ping":
    case "Pong":
    case "GetTokensUrisRequest":
    case "ListTokensRequest":
      break;
  }
  return w.finish();
}

/** The whole frame as it goes on the socket: Frame::Version1 (0x00), then Frame1. */
export function encodeFrame(f: Frame1): Uint8Array {
  const body = encodeFrame1(f);
  const out = new Uint8Array(body.length + 1);
  out.set(body, 1);
  return out;
}

/** SignRequestWithSigScheme's variant index for a TLS scheme code; RangeError for others. */
export function sigSchemeIndex(scheme: number): number {
  const i = (SIG_SCHEMES as readonly number[]).indexOf(scheme);
  if (i < 0) {
    throw new RangeError(
      `Signature scheme 0x${scheme.toString(16).padStart(4, "0")} cannot be named in a ` +
        `tedge-p11-server request`,
    );
  }
  return i;
}

// ---- decoding ----

/** Bytes that are not a frame of this protocol. */
export class FrameError extends Error {
  override name = "FrameError";
}

const pin = (r: PostcardReader) => new Secret(r.str("PIN"));
const str = (what: string) => (r: PostcardReader) => r.str(what);

/**
 * A field that later versions appended (the `pin` of the 1.7.0 requests): a frame from an
 * older peer ends before it, which reads as None instead of failing the whole request.
 */
function appended<T>(r: PostcardReader, read: (r: PostcardReader) => T): T | undefined {
  return r.atEnd ? undefined : r.option(read);
}

function decodeBody(r: PostcardReader): Frame1 {
  const tag = r.varint(32, "frame tag");
  const type = FRAME_TYPES[tag];
  switch (type) {
    case "Error":
      return { type, message: r.str("error message") };
    case "ChooseSchemeRequest":
      return {
        type,
        offered: r.seq((r) => r.varint(16, "signature scheme"), "offered schemes"),
        uri: r.option(str("uri")),
        pin: appended(r, pin),
      };
    case "SignRequest":
      return { type, toSign: r.bytes("to_sign"), uri: r.option(str("uri")), pin: appended(r, pin) };
    case "ChooseSchemeResponse":
      return {
        type,
        scheme: r.option((r) => r.varint(16, "scheme")),
        algorithm: r.u8("algorithm"),
      };
    case "SignResponse":
      return { type, signature: r.bytes("signature") };
    case "SignRequestWithSigScheme":
      return {
        type,
        toSign: r.bytes("to_sign"),
        uri: r.option(str("uri")),
        sigscheme: r.option((r) => {
          const i = r.varint(32, "sigscheme");
          if (i >= SIG_SCHEMES.length) throw new PostcardError(`unknown sigscheme ${i}`);
          return SIG_SCHEMES[i];
        }),
        pin: appended(r, pin),
      };
    case "GetPublicKeyPemRequest":
      return { type, uri: r.option(str("uri")) };
    case "GetPublicKeyPemResponse":
      return { type, pem: r.str("PEM") };
    case "CreateKeyRequest": {
      const uri = r.str("uri");
      const kind = r.varint(32, "key type");
      if (kind > 1) throw new PostcardError(`unknown key type ${kind}`);
      const size = r.varint(16, kind === 0 ? "bits" : "curve");
      return {
        type,
        uri,
        key: kind === 0 ? { kind: "rsa", bits: size } : { kind: "ec", curve: size },
        label: r.str("label"),
        id: r.option((r) => r.bytes("id")),
        pin: r.option(pin),
      };
    }
    case "CreateKeyResponse":
      return { type, pem: r.str("PEM"), uri: r.str("uri") };
    case "GetTokensUrisResponse":
      return { type, uris: r.seq(str("uri"), "uris") };
    case "InitTokenRequest":
      return {
        type,
        label: r.str("label"),
        soPin: r.option(pin),
        pin: r.option(pin),
        uri: r.option(str("uri")),
      };
    case "InitTokenResponse":
    case "ChangePinResponse":
      return { type, uri: r.str("uri") };
    case "ListTokensResponse":
      return {
        type,
        tokens: r.seq((r) => ({
          slot: r.varintBig(64, "slot"),
          label: r.str("label"),
          model: r.str("model"),
          manufacturer: r.str("manufacturer"),
          serial: r.str("serial"),
          initialized: r.bool("initialized"),
          uri: r.str("uri"),
        }), "tokens"),
      };
    case "ChangePinRequest":
      return {
        type,
        uri: r.option(str("uri")),
        newPin: pin(r),
        oldPin: r.option(pin),
        soPin: r.option(pin),
        reset: r.bool("reset"),
      };
    case "DeleteKeyRequest":
      return { type, uri: r.str("uri"), pin: r.option(pin) };
    case "DeleteKeyResponse":
      return { type, deleted: r.seq(str("uri"), "deleted") };
    case "ListKeysRequest":
      return { type, uri: r.option(str("uri")), pin: r.option(pin) };
    case "ListKeysResponse":
      return {
        type,
        keys: r.seq((r) => ({
          class: r.str("class"),
          keyType: r.str("key type"),
          label: r.str("label"),
          id: r.str("id"),
          uri: r.str("uri"),
        }), "keys"),
      };
    case "Ping":
    case "Pong":
    case "GetTokensUrisRequest":
    case "ListTokensRequest":
      return { type };
    default:
      throw new PostcardError(`unknown frame tag ${tag}`);
  }
}

/** Decodes Frame1's bytes (no version prefix); throws a FrameError naming what is wrong. */
export function decodeFrame1(bytes: Uint8Array): Frame1 {
  try {
    return decodeBody(new PostcardReader(bytes));
  } catch (e) {
    if (e instanceof PostcardError) throw new FrameError(e.message);
    throw e;
  }
}

/** Decodes a whole frame as read from the socket (version prefix, then Frame1). */
export function decodeFrame(bytes: Uint8Array): Frame1 {
  if (bytes.length === 0) throw new FrameError("empty frame");
  let version: number;
  try {
    version = new PostcardReader(bytes).varint(32, "frame version");
  } catch (e) {
    throw new FrameError((e as Error).message);
  }
  if (version !== 0) throw new FrameError(`unknown frame version ${version}`);
  return decodeFrame1(bytes.subarray(1));
}

/** What a frame is, for messages and logs: its type, never a PIN or the data to sign. */
export function describeFrame(f: Frame1): string {
  return f.type === "Error" ? `Error("${f.message}")` : f.type;
}
