/**
 * Our TLS 1.2 flight (RFC 5246 7.3, 7.4.6 to 7.4.9), sent in one write:
 *
 * ```
 *   [Certificate]  ClientKeyExchange  [CertificateVerify]  change_cipher_spec  {Finished}
 * ```
 *
 * 1. Certificate, when asked: our chain, or an empty one without a key or when the key can make
 *    none of the server's schemes (7.4.6; then no CertificateVerify, and `withheld` says why).
 * 2. ClientKeyExchange: a fresh ECDHE share on the server's group (RFC 8422 5.7); the server's
 *    share is validated while computing the pre-master secret, before anything is signed.
 * 3. Extended master secret over the session hash, ClientHello .. ClientKeyExchange (RFC 7627).
 * 4. CertificateVerify: the token signs the handshake messages themselves (7.4.8) with a scheme
 *    from the server's CertificateRequest, RSA PKCS#1 v1.5 allowed.
 * 5. change_cipher_spec, then our keys, then Finished over everything before it (7.4.9).
 */

import type { CipherSuiteInfo } from "../../cipher_suites.ts";
import { concatBytes } from "../../codec.ts";
import {
  type CertificateRequest12,
  encodeCertificate12,
  encodeClientKeyExchange,
  encodeFinished,
  type ServerKeyExchange,
} from "../../messages/mod.ts";
import { Tls12MasterSecret } from "../../prf.ts";
import type { RandomSource } from "../../random.ts";
import {
  ContentType,
  type RecordLayer,
  Tls12RecordDecrypter,
  Tls12RecordEncrypter,
} from "../../record/mod.ts";
import {
  allowedInTls12,
  chooseSigner,
  type ClientAuth,
  signCertificateVerify,
} from "../client_auth.ts";
import { CCS_RECORD } from "../client_flight.ts";
import { KeyShare } from "../key_share.ts";
import type { Transcript } from "../transcript.ts";

export interface Tls12ClientFlightInput {
  readonly suite: CipherSuiteInfo;
  readonly transcript: Transcript;
  readonly keyExchange: ServerKeyExchange;
  readonly request: CertificateRequest12 | undefined;
  readonly clientAuth: ClientAuth | undefined;
  readonly random: RandomSource;
  readonly clientRandom: Uint8Array;
  readonly serverRandom: Uint8Array;
}

export interface Tls12ClientFlightResult {
  readonly master: Tls12MasterSecret;
  /** The server's keys, installed when its change_cipher_spec arrives. */
  readonly serverKeys: Tls12RecordDecrypter;
  readonly scheme: number | undefined;
  readonly signatureMs: number | undefined;
  /** Why no certificate was sent although a key is configured. */
  readonly withheld: string | undefined;
}

export async function sendTls12ClientFlight(
  layer: RecordLayer,
  input: Tls12ClientFlightInput,
): Promise<Tls12ClientFlightResult> {
  const t = input.transcript;
  const messages: Uint8Array[] = [];
  const add = (m: Uint8Array) => {
    messages.push(m);
    t.add(m);
  };
  // 1. Certificate, with the scheme chosen first: a key that fits none sends no certificate.
  const auth = input.request ? input.clientAuth : undefined;
  const chosen = auth
    ? chooseSigner(input.request!.signatureAlgorithms, auth, allowedInTls12)
    : undefined;
  const signer = chosen && "signer" in chosen ? chosen.signer : undefined;
  if (input.request) add(encodeCertificate12(signer ? auth!.certificateChain : []));
  // 2. ClientKeyExchange.
  const share = await KeyShare.generate(input.keyExchange.group, input.random);
  const preMaster = await share.sharedSecret(input.keyExchange.publicKey);
  add(encodeClientKeyExchange(share.publicKey));
  // 3. Extended master secret.
  const master = Tls12MasterSecret.extended(input.suite, preMaster, t.digest());
  preMaster.fill(0);
  // 4. CertificateVerify over ClientHello .. ClientKeyExchange.
  let signatureMs: number | undefined;
  if (signer) {
    const verify = await signCertificateVerify(signer, auth!, t.messages());
    add(verify.message);
    signatureMs = verify.signatureMs;
  }
  t.releaseMessages();
  // 5. Finished under our new keys, after change_cipher_spec.
  const finished = encodeFinished(master.clientFinished(t.digest()));
  t.add(finished);
  const keys = master.trafficKeys(input.clientRandom, input.serverRandom);
  const ours = Tls12RecordEncrypter.create(input.suite, keys.client);
  const serverKeys = Tls12RecordDecrypter.create(input.suite, keys.server);
  await layer.enqueueWrite(async () => {
    const plain = layer.encodeRecords(ContentType.handshake, concatBytes(...messages));
    layer.setEncrypter(ours);
    const protectedFinished = layer.encodeRecords(ContentType.handshake, finished);
    await layer.writeBytes(concatBytes(plain, CCS_RECORD, protectedFinished));
  });
  const withheld = chosen && "withheld" in chosen ? chosen.withheld : undefined;
  return { master, serverKeys, scheme: signer?.scheme, signatureMs, withheld };
}
