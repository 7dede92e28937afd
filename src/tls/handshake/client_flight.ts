/**
 * Our second flight (RFC 8446 section 4.4): [change_cipher_spec] {Certificate
 * {CertificateVerify}} {Finished}, sent in one write, then the switch to application keys.
 */

import { answerCertificateRequest, type ClientAuth } from "./client_auth.ts";
import { concatBytes } from "../codec.ts";
import type { ApplicationTrafficSecret, HandshakeTrafficSecret } from "../key_schedule.ts";
import { type CertificateRequest, encodeFinished } from "../messages/mod.ts";
import { ContentType } from "../record/mod.ts";
import type { RecordLayer } from "../record/mod.ts";
import { RecordEncrypter } from "../record/mod.ts";
import type { Transcript } from "./transcript.ts";

/** The dummy change_cipher_spec record of middlebox compatibility mode (RFC 8446 D.4). */
export const CCS_RECORD = new Uint8Array([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);

export interface ClientFlightInput {
  readonly transcript: Transcript;
  readonly request: CertificateRequest | undefined;
  readonly clientAuth: ClientAuth | undefined;
  readonly handshakeSecret: HandshakeTrafficSecret;
  readonly applicationSecret: ApplicationTrafficSecret;
  readonly sendCcs: boolean;
}

export async function sendClientFlight(
  layer: RecordLayer,
  input: ClientFlightInput,
): Promise<
  { scheme: number | undefined; signatureMs: number | undefined; withheld: string | undefined }
> {
  const t = input.transcript;
  const messages: Uint8Array[] = [];
  let scheme: number | undefined;
  let signatureMs: number | undefined;
  let withheld: string | undefined;
  if (input.request) {
    const auth = await answerCertificateRequest(input.request, input.clientAuth, t);
    messages.push(...auth.messages);
    ({ scheme, signatureMs, withheld } = auth);
  }
  // Finished (4.4.4) over the transcript through our CertificateVerify.
  const finished = encodeFinished(input.handshakeSecret.finishedVerifyData(t.digest()));
  t.add(finished);
  const applicationKeys = RecordEncrypter.create(input.applicationSecret);
  await layer.enqueueWrite(async () => {
    // The client handshake keys were installed when the ServerHello arrived.
    const records = layer.encodeRecords(
      ContentType.handshake,
      concatBytes(...messages, finished),
    );
    layer.setEncrypter(applicationKeys);
    await layer.writeBytes(input.sendCcs ? concatBytes(CCS_RECORD, records) : records);
  });
  return { scheme, signatureMs, withheld };
}
