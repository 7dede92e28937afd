/**
 * NewSessionTicket (RFC 8446 section 4.6.1). We do not resume sessions: tickets are decoded
 * (so a malformed one is still an error) and dropped.
 */

import { Reader, Writer } from "../codec.ts";
import { decodeExtensions, encodeExtensions, type Extension } from "./extensions.ts";
import { encodeHandshake, HandshakeType } from "./handshake.ts";

/**
 * The largest NewSessionTicket body the grammar allows (RFC 8446 4.6.1): ticket_lifetime (4),
 * ticket_age_add (4), ticket_nonce<0..255>, ticket<1..2^16-1>, extensions<0..2^16-2>. A legal
 * ticket may exceed 64 KiB; this bounds what we buffer for one.
 */
export const MAX_NEW_SESSION_TICKET = 4 + 4 + (1 + 255) + (2 + 0xffff) + (2 + 0xfffe);

export interface NewSessionTicket {
  readonly lifetime: number;
  readonly ageAdd: number;
  readonly nonce: Uint8Array;
  readonly ticket: Uint8Array;
  readonly extensions: readonly Extension[];
}

export function decodeNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new Reader(body, "NewSessionTicket");
  const lifetime = r.u32("ticket_lifetime");
  const ageAdd = r.u32("ticket_age_add");
  const nonce = r.vector(1, "ticket_nonce");
  const ticket = r.vector(2, "ticket", 1);
  const extensions = decodeExtensions(r, "NewSessionTicket");
  r.end();
  return { lifetime, ageAdd, nonce, ticket, extensions };
}

export function encodeNewSessionTicket(t: NewSessionTicket): Uint8Array {
  const w = new Writer(64 + t.ticket.length)
    .u32(t.lifetime)
    .u32(t.ageAdd)
    .vector(1, t.nonce)
    .vector(2, t.ticket);
  encodeExtensions(w, t.extensions);
  return encodeHandshake(HandshakeType.new_session_ticket, w.finish());
}
