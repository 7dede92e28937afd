/** Finished (RFC 8446 section 4.4.4): verify_data of Hash.length bytes. */

import { TlsDecodeError } from "../errors.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export function decodeFinished(body: Uint8Array, hashLength: number): Uint8Array {
  if (body.length !== hashLength) {
    throw new TlsDecodeError(
      `Cannot decode Finished: verify_data has ${body.length} bytes, expected ${hashLength}`,
    );
  }
  return body;
}

export function encodeFinished(verifyData: Uint8Array): Uint8Array {
  return encodeHandshake(HandshakeType.finished, verifyData);
}
