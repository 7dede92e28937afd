/**
 * An established TLS 1.3 connection (RFC 8446 section 4.6, 5, 6): application data both ways,
 * post-handshake messages, KeyUpdate, close_notify and fatal errors. A TLS 1.2 connection
 * differs only after the handshake, as tls12_session.ts says (no KeyUpdate, no renegotiation).
 *
 * Writes: `write()` only queues a reference. The first write of a tick queues one flush task on
 * the record layer's write queue; when it runs, it takes everything queued so far and packs it
 * into records of up to 2^14 bytes built in place in one output buffer (header, plaintext,
 * content type), encrypts each record in place, and writes the buffer at once.
 *
 * Reads: every record already buffered is opened synchronously (the AEADs are synchronous), and
 * the data of consecutive application_data records goes out as one chunk; the socket is read
 * only when no whole record is left. A read() that finds data buffered answers without waiting
 * for the event loop.
 *
 * Errors: the first fatal error is kept; the alert it calls for is sent, the socket closed, and
 * every later call fails with that same error.
 */

import { getLogger } from "../log.ts";
import { Alert, encodeAlert } from "./alert.ts";
import { concatBytes } from "./codec.ts";
import {
  asTlsError,
  messageOf,
  receivedAlertError,
  TlsAlertReceivedError,
  TlsClosedError,
  type TlsError,
  TlsLocalError,
  TlsPeerMisbehavedError,
} from "./errors.ts";
import type { ApplicationTrafficSecret } from "./key_schedule.ts";
import {
  decodeKeyUpdate,
  decodeNewSessionTicket,
  encodeKeyUpdate,
  type HandshakeMessage,
  HandshakeReassembler,
  HandshakeType,
  handshakeTypeName,
  MAX_HANDSHAKE_MESSAGE,
  MAX_NEW_SESSION_TICKET,
} from "./messages/mod.ts";
import type { HandshakeInfo, TlsConnection } from "./options.ts";
import { ContentType, MAX_PLAINTEXT } from "./record/mod.ts";
import type { InboundRecord, RecordLayer } from "./record/mod.ts";
import { RecordDecrypter, RecordEncrypter } from "./record/mod.ts";
import { Tls12Session } from "./tls12_session.ts";
import { withWithheldCertificate } from "./handshake/mod.ts";

const log = getLogger("tls");

/**
 * RFC 8446 5.5: AES-GCM keys may protect at most 2^24.5 full-size records; we rotate our
 * sending keys with a KeyUpdate well before.
 */
const KEY_UPDATE_AFTER_RECORDS = 2 ** 24;
/** How long close() waits for queued writes and close_notify before closing anyway. */
const CLOSE_TIMEOUT_MS = 5_000;

/** What #readOne returns for a NewSessionTicket when asked to stop there. */
const TICKET = Symbol("NewSessionTicket");

/** What the connection keeps of the handshake: TLS 1.3 application secrets, or TLS 1.2 rules. */
export type SessionKeys =
  | { readonly client: ApplicationTrafficSecret; readonly server: ApplicationTrafficSecret }
  | Tls12Session;

export class TlsConnectionImpl implements TlsConnection {
  readonly info: HandshakeInfo;
  readonly closed: Promise<void>;
  readonly #layer: RecordLayer;
  #clientSecret!: ApplicationTrafficSecret;
  #serverSecret!: ApplicationTrafficSecret;
  readonly #tls12: Tls12Session | undefined;
  readonly #messages = new HandshakeReassembler(postHandshakeLimit);
  #reads: Promise<unknown> = Promise.resolve();
  /** Reads queued on #reads and not settled yet. */
  #queuedReads = 0;
  /** A record read after data in the same go, handled by the next read. */
  #held: InboundRecord | undefined;
  #readEnded = false;
  #error: TlsError | undefined;
  #closing: Promise<void> | undefined;
  #resolveClosed!: () => void;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The flush that takes writes issued now (queued, not started yet). */
  #batch: Promise<void> | undefined;
  #keyUpdateOwed = false;
  /** Data read by awaitAcceptance(), handed out by the next read(). */
  readonly #stash: Uint8Array[] = [];

  constructor(layer: RecordLayer, keys: SessionKeys, info: HandshakeInfo) {
    this.#layer = layer;
    if (keys instanceof Tls12Session) this.#tls12 = keys;
    else [this.#clientSecret, this.#serverSecret] = [keys.client, keys.server];
    this.info = info;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  read(): Promise<Uint8Array | null> {
    // Fast path: no read waiting before this one, and data already buffered (or an error or
    // the end already known): answered without waiting for the socket.
    if (this.#queuedReads === 0) {
      const stashed = this.#stash.shift();
      if (stashed) return Promise.resolve(stashed);
      try {
        const got = this.#takeBuffered(false);
        if (got !== undefined) return Promise.resolve(got);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#queueRead(() => this.#stash.shift() ?? this.#readOne(false));
  }

  /** Runs `task` after every read queued before it: one read at a time is served. */
  #queueRead<T>(task: () => T | Promise<T>): Promise<T> {
    this.#queuedReads++;
    const next = this.#reads.then(task);
    this.#reads = next.then(this.#readDone, this.#readDone);
    return next;
  }

  readonly #readDone = (): void => {
    this.#queuedReads--;
  };

  /** See TlsConnection.awaitAcceptance: data that comes first is kept for read(). */
  awaitAcceptance(timeoutMs: number): Promise<"accepted" | "closed" | "silent"> {
    if (this.#tls12) return Promise.resolve("accepted"); // judged before its Finished
    const verdict = this.#queueRead(async () => {
      if (this.#stash.length) return "accepted" as const;
      const got = await this.#readOne(true);
      if (got === null) return "closed" as const;
      if (got !== TICKET) this.#stash.push(got);
      return "accepted" as const;
    });
    verdict.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<"silent">((r) => timer = setTimeout(() => r("silent"), timeoutMs));
    return Promise.race([verdict, silent]).finally(() => clearTimeout(timer));
  }

  /** Reads until there is data, the end, or (with `untilTicket`) a NewSessionTicket. */
  async #readOne(untilTicket: true): Promise<Uint8Array | null | typeof TICKET>;
  async #readOne(untilTicket: false): Promise<Uint8Array | null>;
  async #readOne(untilTicket: boolean): Promise<Uint8Array | null | typeof TICKET> {
    for (;;) {
      const got = untilTicket ? this.#takeBuffered(true) : this.#takeBuffered(false);
      if (got !== undefined) return got;
      try {
        if (await this.#layer.receive()) continue;
        if (this.#messages.hasPartial) {
          throw new TlsPeerMisbehavedError(
            "Server closed the connection in the middle of a handshake message",
            "unexpected_message",
          );
        }
        this.#readEnded = true;
        return null;
      } catch (err) {
        return this.#readFailed(err);
      }
    }
  }

  /**
   * Progress from the records already buffered, without waiting: the application data of every
   * buffered record in a row (one array), null at the end, TICKET (with `untilTicket`), or
   * undefined when more bytes are needed. Records are opened one by one, so a KeyUpdate takes
   * effect before the record after it is decrypted. A record that comes after data (an alert,
   * a ticket) is kept for the next call, so the data goes out first.
   */
  #takeBuffered(untilTicket: true): Uint8Array | null | typeof TICKET | undefined;
  #takeBuffered(untilTicket: false): Uint8Array | null | undefined;
  #takeBuffered(untilTicket: boolean): Uint8Array | null | typeof TICKET | undefined {
    if (this.#error) throw this.#error;
    if (this.#readEnded) return null;
    let data: Uint8Array | undefined;
    let more: Uint8Array[] | undefined;
    try {
      for (;;) {
        const record = this.#held ?? this.#layer.readBuffered();
        this.#held = undefined;
        if (!record) break;
        if (record.type === ContentType.application_data) {
          // RFC 8446 5.1: handshake messages must not be interleaved with other records, an
          // empty application_data record included.
          if (this.#messages.hasPartial) throw interleaved();
          if (record.content.length === 0) continue;
          if (!data) data = record.content;
          else (more ??= []).push(record.content);
          continue;
        }
        if (data) {
          this.#held = record;
          break;
        }
        const got = this.#control(record);
        if (got === null || (got === TICKET && untilTicket)) return got;
      }
    } catch (err) {
      // Data authenticated before the failure is still handed out; the error ends the
      // connection now and is what every later call gets.
      if (!data) return this.#readFailed(err);
      try {
        this.#readFailed(err);
      } catch { /* kept as #error: the next read throws it */ }
    }
    return more ? concatBytes(data!, ...more) : data;
  }

  /** An alert or a post-handshake record: null at a closure alert, TICKET for a ticket. */
  #control(record: InboundRecord): null | typeof TICKET | undefined {
    if (record.type === ContentType.alert) {
      const err = this.#tls12?.alertError(record.content) ??
        receivedAlertError(record.content, "after the handshake");
      // RFC 8446 6.1: close_notify and user_canceled are the closure alerts; whatever
      // follows them is ignored.
      if (
        err instanceof TlsAlertReceivedError &&
        (err.alertCode === Alert.close_notify || err.alertCode === Alert.user_canceled)
      ) {
        this.#readEnded = true;
        return null;
      }
      // After an empty Certificate our key could not avoid, the refusal says why we sent none.
      throw withWithheldCertificate(err, this.info.clientCertificateWithheld);
    }
    this.#messages.push(record.content);
    let ticket = false;
    for (let m = this.#messages.next(); m; m = this.#messages.next()) {
      ticket = this.#postHandshake(m) || ticket;
    }
    return ticket ? TICKET : undefined;
  }

  /** A read failed: the end of the stream once we are closing, else a fatal error (thrown). */
  #readFailed(err: unknown): null {
    // Once we are closing, whatever the socket does is the end of the stream, not an error.
    if (this.#closing && !this.#error) {
      this.#readEnded = true;
      return null;
    }
    throw this.#fail(err);
  }

  /** Handles one post-handshake message (RFC 8446 4.6); true for a NewSessionTicket. */
  #postHandshake(m: HandshakeMessage): boolean {
    const reply = this.#tls12?.handshakeMessage(m);
    if (reply) {
      const send = () => this.#layer.encodeRecords(ContentType.alert, encodeAlert(reply));
      this.#layer.enqueueWrite(() => this.#layer.writeBytes(send())).catch((e) => this.#fail(e));
    }
    if (this.#tls12) return false;
    if (m.type === HandshakeType.new_session_ticket) {
      decodeNewSessionTicket(m.body); // well-formed, then dropped: we never resume
      return true;
    }
    if (m.type !== HandshakeType.key_update) {
      // CertificateRequest included: we did not offer post_handshake_auth (4.6.2).
      throw new TlsPeerMisbehavedError(
        `Server sent ${handshakeTypeName(m.type)} after the handshake`,
        "unexpected_message",
      );
    }
    const { updateRequested } = decodeKeyUpdate(m.body);
    log.debug("KeyUpdate received", { updateRequested });
    // 4.6.3: the next record is under the new keys, so the KeyUpdate must end its record.
    if (this.#messages.hasPartial) throw interleaved();
    this.#serverSecret = this.#serverSecret.next();
    this.#layer.setDecrypter(RecordDecrypter.create(this.#serverSecret));
    if (updateRequested && !this.#keyUpdateOwed) {
      // Several requests while we are silent get one answer (4.6.3).
      this.#keyUpdateOwed = true;
      this.#sendKeyUpdate(false).catch((err) => this.#fail(err));
    }
    return false;
  }

  /** Sends KeyUpdate under the current keys, then switches our sending keys (4.6.3). */
  #sendKeyUpdate(requestPeer: boolean): Promise<void> {
    return this.#layer.enqueueWrite(() => this.#keyUpdateNow(requestPeer));
  }

  async #keyUpdateNow(requestPeer: boolean): Promise<void> {
    this.#keyUpdateOwed = false;
    log.debug("KeyUpdate sent", { requestPeer });
    const record = this.#layer.encodeRecords(ContentType.handshake, encodeKeyUpdate(requestPeer));
    this.#clientSecret = this.#clientSecret.next();
    this.#layer.setEncrypter(RecordEncrypter.create(this.#clientSecret));
    await this.#layer.writeBytes(record);
  }

  updateKeys(requestPeerUpdate = false): Promise<void> {
    const problem = this.#writeProblem() ??
      (this.#tls12 && new TlsLocalError("Cannot update keys: TLS 1.2 has no KeyUpdate", undefined));
    if (problem) return Promise.reject(problem);
    return this.#sendKeyUpdate(requestPeerUpdate).catch((err) => {
      throw this.#fail(err);
    });
  }

  write(data: Uint8Array): Promise<void> {
    const problem = this.#writeProblem();
    if (problem) return Promise.reject(problem);
    if (data.length === 0) return Promise.resolve();
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    if (!this.#batch) {
      const batch = this.#layer.enqueueWrite(() => this.#flush()).catch((err) => {
        throw this.#fail(err);
      });
      // A caller that does not await its write must not crash the process with an unhandled
      // rejection: the error is kept and every later call reports it.
      batch.catch(() => {});
      this.#batch = batch;
    }
    return this.#batch;
  }

  #writeProblem(): TlsError | undefined {
    if (this.#error) return this.#error;
    if (this.#closing) return new TlsClosedError("Cannot write: the connection is closed");
    return undefined;
  }

  /** Runs on the write queue: packs everything pending into records and writes them. */
  async #flush(): Promise<void> {
    const chunks = this.#pending;
    const total = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#batch = undefined;
    const records = Math.ceil(total / MAX_PLAINTEXT);
    const sequence = this.#layer.encrypter!.sequence;
    if (this.#tls12) this.#tls12.checkRecords(sequence, records);
    else if (sequence + records >= KEY_UPDATE_AFTER_RECORDS) await this.#keyUpdateNow(false);
    await this.#layer.writeBytes(await this.#layer.encodeApplicationData(chunks, total));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (!this.#error) {
      // Queued after every write already issued, so their data goes out first.
      const notify = this.#layer.enqueueWrite(async () => {
        const alert = this.#layer.encodeRecords(
          ContentType.alert,
          encodeAlert("close_notify"),
        );
        await this.#layer.writeBytes(alert);
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        notify.catch(() => {}),
        new Promise<void>((r) => timer = setTimeout(r, CLOSE_TIMEOUT_MS)),
      ]);
      clearTimeout(timer);
    }
    this.#layer.close();
    this.#resolveClosed();
  }

  /**
   * Records the first fatal error, sends the alert it names (`alertToSend`, the one rule in
   * errors.ts), closes, and returns the error to throw.
   */
  #fail(err: unknown): TlsError {
    if (this.#error) return this.#error;
    const e = asTlsError(err, "TLS connection failed");
    this.#error = e;
    this.#layer.abort(e.alertToSend).finally(() => this.#resolveClosed());
    return e;
  }
}

/**
 * The largest post-handshake message body buffered, by type (RFC 8446 4.6): a NewSessionTicket
 * as large as its grammar allows, a KeyUpdate of its one byte; anything else is refused once
 * whole, so the general handshake limit bounds it.
 */
function postHandshakeLimit(type: number): number {
  if (type === HandshakeType.new_session_ticket) return MAX_NEW_SESSION_TICKET;
  if (type === HandshakeType.key_update) return 1;
  return MAX_HANDSHAKE_MESSAGE;
}

function interleaved(): TlsPeerMisbehavedError {
  return new TlsPeerMisbehavedError(
    "Server interleaved another record with a fragmented handshake message",
    "unexpected_message",
  );
}

/**
 * The TCP connection under TLS: the one place the TLS client opens a socket. Nagle is off:
 * writes are already coalesced into full records, so waiting would only add latency.
 */
export async function connectTcp(
  hostname: string,
  port: number,
  target: string,
): Promise<{ conn: Deno.TcpConn; remoteAddress: string }> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port, transport: "tcp" });
  } catch (err) {
    throw new TlsLocalError(`Cannot connect to ${target}: ${messageOf(err)}`, undefined, {
      cause: err,
    });
  }
  try {
    conn.setNoDelay(true);
  } catch { /* not fatal */ }
  const addr = conn.remoteAddr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { conn, remoteAddress: `${host}:${addr.port}` };
}
