/** KeyUpdate (RFC 8446 section 4.6.3). */

import { Reader } from "../codec.ts";
import { TlsPeerMisbehavedError } from "../errors.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

export const KeyUpdateRequest = {
  update_not_requested: 0,
  update_requested: 1,
} as const;

/** Whether the peer asks us to update our sending keys too. */
export function decodeKeyUpdate(body: Uint8Array): { updateRequested: boolean } {
  const r = new Reader(body, "KeyUpdate");
  const v = r.u8("request_update");
  r.end();
  if (v !== 0 && v !== 1) {
    // RFC 8446 4.6.3: any other value is illegal_parameter.
    throw new TlsPeerMisbehavedError(
      `Server sent a KeyUpdate with request_update ${v}`,
      "illegal_parameter",
    );
  }
  return { updateRequested: v === 1 };
}

export function encodeKeyUpdate(updateRequested: boolean): Uint8Array {
  return encodeHandshake(HandshakeType.key_update, new Uint8Array([updateRequested ? 1 : 0]));
}
