/**
 * An established TLS 1.3 connection (RFC 8446 section 4.6, 5, 6): application data both ways,
 * post-handshake messages, KeyUpdate, close_notify and fatal errors.
 *
 * Writes: `write()` only queues a reference. The first write of a tick queues one flush task on
 * the record layer's write queue; when it runs, it takes everything queued so far and packs it
 * into records of up to 2^14 bytes built in place in one output buffer (header, plaintext,
 * content type), encrypts each record with one AEAD call, and writes the buffer at once.
 *
 * Errors: the first fatal error is kept; the alert it calls for is sent, the socket closed, and
 * every later call fails with that same error.
 */

import { getLogger } from "../log.ts";
import { Alert, encodeAlert, isAlertName, receivedAlertError } from "./alert.ts";
import { TAG_LENGTH } from "./cipher_suites.ts";
import {
  TlsAlertReceivedError,
  TlsClosedError,
  TlsError,
  TlsLocalError,
  TlsPeerMisbehavedError,
  TlsTimeoutError,
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
} from "./messages/mod.ts";
import type { HandshakeInfo, TlsConnection } from "./options.ts";
import { ContentType, MAX_PLAINTEXT, messageOf, RECORD_HEADER_LENGTH } from "./record.ts";
import type { RecordLayer } from "./record_layer.ts";
import { RecordDecrypter, RecordEncrypter, writeCiphertextHeader } from "./record_protection.ts";

const log = getLogger("tls");

/**
 * RFC 8446 5.5: AES-GCM keys may protect at most 2^24.5 full-size records; we rotate our
 * sending keys with a KeyUpdate well before.
 */
const KEY_UPDATE_AFTER_RECORDS = 2 ** 24;
/** How long close() waits for queued writes and close_notify before closing anyway. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Per-record overhead: header, content type byte, AEAD tag. */
const RECORD_OVERHEAD = RECORD_HEADER_LENGTH + 1 + TAG_LENGTH;

/** What #readOne returns for a NewSessionTicket when asked to stop there. */
const TICKET = Symbol("NewSessionTicket");

interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class TlsConnectionImpl implements TlsConnection {
  readonly info: HandshakeInfo;
  readonly closed: Promise<void>;
  readonly #layer: RecordLayer;
  #clientSecret: ApplicationTrafficSecret;
  #serverSecret: ApplicationTrafficSecret;
  readonly #messages = new HandshakeReassembler();
  #reads: Promise<unknown> = Promise.resolve();
  #readEnded = false;
  #error: TlsError | undefined;
  #closing: Promise<void> | undefined;
  #resolveClosed!: () => void;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #batch: Batch | undefined;
  #keyUpdateOwed = false;
  /** Data read by awaitAcceptance(), handed out by the next read(). */
  readonly #stash: Uint8Array[] = [];

  constructor(
    layer: RecordLayer,
    secrets: { client: ApplicationTrafficSecret; server: ApplicationTrafficSecret },
    info: HandshakeInfo,
  ) {
    this.#layer = layer;
    this.#clientSecret = secrets.client;
    this.#serverSecret = secrets.server;
    this.info = info;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  read(): Promise<Uint8Array | null> {
    const next = this.#reads.then(() => this.#stash.shift() ?? this.#readOne(false));
    this.#reads = next.catch(() => {});
    return next;
  }

  /**
   * Waits up to `timeoutMs` for the server's first word after the handshake. TLS 1.3 servers
   * refuse a client certificate only after our Finished, so a completed handshake does not yet
   * mean the server accepted us. Resolves "accepted" on a NewSessionTicket or data (the data is
   * kept for read()), "closed" when the server ended the stream, "silent" when nothing came in
   * time; rejects with TlsAlertReceivedError when the server refused (bad_certificate, ...).
   */
  awaitAcceptance(timeoutMs: number): Promise<"accepted" | "closed" | "silent"> {
    const verdict = this.#reads.then(async () => {
      if (this.#stash.length) return "accepted" as const;
      const got = await this.#readOne(true);
      if (got === null) return "closed" as const;
      if (got !== TICKET) this.#stash.push(got);
      return "accepted" as const;
    });
    this.#reads = verdict.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<"silent">((r) => timer = setTimeout(() => r("silent"), timeoutMs));
    return Promise.race([verdict, silent]).finally(() => clearTimeout(timer));
  }

  /** One record's worth of progress; with `untilTicket`, a NewSessionTicket also returns. */
  async #readOne(untilTicket: true): Promise<Uint8Array | null | typeof TICKET>;
  async #readOne(untilTicket: false): Promise<Uint8Array | null>;
  async #readOne(untilTicket: boolean): Promise<Uint8Array | null | typeof TICKET> {
    if (this.#error) throw this.#error;
    if (this.#readEnded) return null;
    try {
      for (;;) {
        const record = await this.#layer.read();
        if (record === null) {
          if (this.#messages.hasPartial) {
            throw new TlsPeerMisbehavedError(
              "Server closed the connection in the middle of a handshake message",
              "unexpected_message",
            );
          }
          this.#readEnded = true;
          return null;
        }
        if (record.type === ContentType.application_data) {
          // RFC 8446 5.1: handshake messages must not be interleaved with other records.
          if (this.#messages.hasPartial) throw interleaved();
          return record.content;
        }
        if (record.type === ContentType.alert) {
          const err = receivedAlertError(record.content, "after the handshake");
          // RFC 8446 6.1: close_notify and user_canceled are the closure alerts; whatever
          // follows them is ignored.
          if (
            err instanceof TlsAlertReceivedError &&
            (err.alertCode === Alert.close_notify || err.alertCode === Alert.user_canceled)
          ) {
            this.#readEnded = true;
            return null;
          }
          throw err;
        }
        this.#messages.push(record.content);
        let ticket = false;
        for (let m = this.#messages.next(); m; m = this.#messages.next()) {
          ticket ||= await this.#postHandshake(m);
        }
        if (ticket && untilTicket) return TICKET;
      }
    } catch (err) {
      // Once we are closing, whatever the socket does is the end of the stream, not an error.
      if (this.#closing && !this.#error) {
        this.#readEnded = true;
        return null;
      }
      throw this.#fail(err);
    }
  }

  /** Post-handshake messages (RFC 8446 4.6). */
  /** Handles one; true for a NewSessionTicket. */
  async #postHandshake(m: HandshakeMessage): Promise<boolean> {
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
    this.#layer.setDecrypter(await RecordDecrypter.create(this.#serverSecret));
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
    const record = await this.#layer.encodeRecords(
      ContentType.handshake,
      encodeKeyUpdate(requestPeer),
    );
    this.#clientSecret = this.#clientSecret.next();
    this.#layer.setEncrypter(await RecordEncrypter.create(this.#clientSecret));
    await this.#layer.writeBytes(record);
  }

  updateKeys(requestPeerUpdate = false): Promise<void> {
    const problem = this.#writeProblem();
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
      let resolve!: () => void, reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A caller that does not await its write must not crash the process with an unhandled
      // rejection: the error is kept and every later call reports it.
      promise.catch(() => {});
      const batch: Batch = { promise, resolve, reject };
      this.#batch = batch;
      this.#layer.enqueueWrite(() => this.#flush()).then(
        () => batch.resolve(),
        (err) => batch.reject(this.#fail(err)),
      );
    }
    return this.#batch.promise;
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
    if (this.#layer.encrypter!.sequence + records >= KEY_UPDATE_AFTER_RECORDS) {
      await this.#keyUpdateNow(false);
    }
    await this.#flushChunks(chunks, total, records);
  }

  async #flushChunks(chunks: Uint8Array[], total: number, records: number): Promise<void> {
    const encrypter = this.#layer.encrypter!;
    const out = new Uint8Array(total + records * RECORD_OVERHEAD);
    const sealed: Promise<Uint8Array>[] = [];
    const offsets: number[] = [];
    let ci = 0, co = 0, at = 0;
    for (let left = total; left > 0;) {
      const n = Math.min(left, MAX_PLAINTEXT);
      const headerAt = at;
      writeCiphertextHeader(out, headerAt, n + 1 + TAG_LENGTH);
      at += RECORD_HEADER_LENGTH;
      const bodyAt = at;
      for (let need = n; need > 0;) {
        const c = chunks[ci];
        const take = Math.min(need, c.length - co);
        out.set(take === c.length ? c : c.subarray(co, co + take), at);
        at += take;
        need -= take;
        co += take;
        if (co === c.length) {
          ci++;
          co = 0;
        }
      }
      out[at++] = ContentType.application_data;
      // The AEAD reads its input when called; the ciphertext is copied back over it below.
      sealed.push(
        encrypter.seal(out.subarray(headerAt, bodyAt), out.subarray(bodyAt, bodyAt + n + 1)),
      );
      offsets.push(bodyAt);
      at += TAG_LENGTH;
      left -= n;
    }
    const bodies = await Promise.all(sealed);
    for (let i = 0; i < bodies.length; i++) out.set(bodies[i], offsets[i]);
    await this.#layer.writeBytes(out);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (!this.#error) {
      // Queued after every write already issued, so their data goes out first.
      const notify = this.#layer.enqueueWrite(async () => {
        const alert = await this.#layer.encodeRecords(
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
   * Records the first fatal error, sends its alert (not for alerts received, timeouts or
   * socket failures), closes, and returns the error to throw.
   */
  #fail(err: unknown): TlsError {
    if (this.#error) return this.#error;
    const e = err instanceof TlsError ? err : new TlsLocalError(
      `TLS connection failed: ${messageOf(err)}`,
      "internal_error",
      { cause: err },
    );
    this.#error = e;
    const sendAlert = !(e instanceof TlsAlertReceivedError || e instanceof TlsTimeoutError) &&
      !(e instanceof TlsLocalError && e.alert === undefined);
    const alert = sendAlert && e.alert && isAlertName(e.alert) ? e.alert : undefined;
    this.#layer.abort(alert).finally(() => this.#resolveClosed());
    return e;
  }
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
