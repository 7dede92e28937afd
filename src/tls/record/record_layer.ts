/**
 * The record layer as the handshake and the connection see it: records in (framed, decrypted,
 * checked against RFC 8446 section 5 rules), records out (fragmented, encrypted), one ordered
 * write queue, and best-effort alerts.
 *
 * Inbound rules enforced here:
 * - change_cipher_spec: a single 0x01, only until the server's Finished (RFC 8446 5, D.4);
 *   TLS 1.3 drops it, TLS 1.2 hands it to the handshake (RFC 5246 7.1), only before the
 *   server's keys are installed;
 * - once server keys are installed every record must be application_data on the outside
 *   (TLS 1.3; a TLS 1.2 record keeps its type, RFC 5246 6.2.3);
 * - before that, application_data is refused;
 * - empty handshake and alert records are refused (RFC 8446 5.1, RFC 5246 6.2.1);
 * - TLS 1.2 warning alerts other than close_notify are dropped (RFC 5246 7.2);
 * - a bounded number of records in a row that carry nothing (CCS, empty application data,
 *   TLS 1.2 warning alerts).
 *
 * An empty application_data record is handed to the reader like any other: the rules that
 * depend on the handshake's state (no application data before the server's Finished, none
 * inside a fragmented handshake message; RFC 8446 5.1) are the reader's, and hold for empty
 * records too. Only change_cipher_spec records (in TLS 1.3) and TLS 1.2 warning alerts are
 * consumed here.
 */

import { getLogger, isLogEnabled } from "../../log.ts";
import { Alert, AlertLevel, type AlertName, alertName, encodeAlert } from "../alert.ts";
import { concatBytes } from "../codec.ts";
import { messageOf, TlsError, TlsLocalError, TlsPeerMisbehavedError } from "../errors.ts";
import {
  ContentType,
  encodePlaintextRecord,
  MAX_PLAINTEXT,
  type RawRecord,
  RecordReader,
} from "./record.ts";
import type { RecordOpener, RecordSealer } from "./record_protection.ts";
import { closeQuietly, type RawTransport, writeAll } from "../transport.ts";

/** A record's content after protection is removed; `content` belongs to the caller. */
export interface InboundRecord {
  readonly type: number;
  readonly content: Uint8Array;
}

/** Records in a row that carry no data before we call it a flood (RFC 8446 gives no limit). */
const MAX_EMPTY_RECORDS = 32;
/** How long a best-effort alert may take before the socket is closed anyway. */
const ALERT_TIMEOUT_MS = 1_000;

const log = getLogger("tls");

const CONTENT_NAMES: Record<number, string> = {
  20: "change_cipher_spec",
  21: "alert",
  22: "handshake",
  23: "application_data",
};

export class RecordLayer {
  readonly transport: RawTransport;
  readonly #reader: RecordReader;
  #decrypter: RecordOpener | undefined;
  #encrypter: RecordSealer | undefined;
  #ccsAllowed = true;
  /** TLS 1.2 rules (set once the ServerHello chose TLS 1.2). */
  #tls12 = false;
  #emptyInARow = 0;
  #writeChain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(transport: RawTransport, readTimeoutMs: number) {
    this.transport = transport;
    this.#reader = new RecordReader(transport, readTimeoutMs);
  }

  get encrypter(): RecordSealer | undefined {
    return this.#encrypter;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Installs new read keys (server handshake keys, application keys, KeyUpdate) and disposes
   * of the old ones: records are opened synchronously, so none is still using them.
   */
  setDecrypter(d: RecordOpener): void {
    if (this.#decrypter !== d) this.#decrypter?.dispose();
    this.#decrypter = d;
    // TLS 1.2 protects handshake and alert records under their own type (RFC 5246 6.2.3).
    if (!d.hidesContentType) this.#reader.ciphertextForAllTypes = true;
  }

  /**
   * The ServerHello chose TLS 1.2: change_cipher_spec is delivered to the handshake (it says
   * when the server's keys start, RFC 5246 7.1) and warning alerts are dropped (7.2).
   */
  useTls12(): void {
    this.#tls12 = true;
  }

  /**
   * Installs new write keys and disposes of the old ones. Call from inside `enqueueWrite` once
   * keys are in use: every earlier write task, and so every record sealed with the old keys
   * (WebCrypto's included), has then finished.
   */
  setEncrypter(e: RecordSealer): void {
    if (this.#encrypter !== e) this.#encrypter?.dispose();
    this.#encrypter = e;
  }

  /** After the server's Finished, a change_cipher_spec record is no longer tolerated. */
  forbidChangeCipherSpec(): void {
    this.#ccsAllowed = false;
  }

  /** The next record (see readBuffered), or null at end of stream on a record boundary. */
  async read(): Promise<InboundRecord | null> {
    for (;;) {
      const record = this.readBuffered();
      if (record) return record;
      if (!await this.#reader.receive()) return null;
    }
  }

  /** Reads more bytes (see RecordReader.receive): false at end of stream on a record boundary. */
  receive(): Promise<boolean> {
    return this.#reader.receive();
  }

  /**
   * The next record if one is already buffered (decrypted now, synchronously), else undefined:
   * then `read()` waits for more bytes. change_cipher_spec records (TLS 1.3) and TLS 1.2
   * warning alerts are consumed and counted on the way; an empty application_data record is
   * returned (and counted), its content empty.
   */
  readBuffered(): InboundRecord | undefined {
    for (;;) {
      const raw = this.#reader.nextBuffered();
      if (!raw) return undefined;
      const record = this.#accept(raw);
      if (record) return record;
    }
  }

  /**
   * Checks one record against the rules above and opens it; undefined for a change_cipher_spec
   * (TLS 1.3) or a TLS 1.2 warning alert.
   */
  #accept(raw: RawRecord): InboundRecord | undefined {
    if (raw.type === ContentType.change_cipher_spec) {
      this.#checkCcs(raw.fragment);
      if (this.#tls12) return { type: raw.type, content: raw.fragment.slice() };
      this.#countEmpty();
      return undefined;
    }
    let type = raw.type;
    let content = raw.fragment;
    if (this.#decrypter) {
      if (this.#decrypter.hidesContentType && type !== ContentType.application_data) {
        throw new TlsPeerMisbehavedError(
          `Server sent an unencrypted ${CONTENT_NAMES[type]} record after encryption started`,
          "unexpected_message",
        );
      }
      ({ type, content } = this.#decrypter.open(raw.header, raw.fragment));
      if (type === ContentType.change_cipher_spec) {
        throw new TlsPeerMisbehavedError(
          "Server sent an encrypted change_cipher_spec record",
          "unexpected_message",
        );
      }
      if (type < ContentType.alert || type > ContentType.application_data) {
        throw new TlsPeerMisbehavedError(
          `Server sent an encrypted record of unknown type ${type}`,
          "unexpected_message",
        );
      }
    } else if (type === ContentType.application_data) {
      throw new TlsPeerMisbehavedError(
        "Server sent application data before the handshake finished",
        "unexpected_message",
      );
    } else {
      // A view into the reader's buffer: copied so that it outlives the next read.
      content = content.slice();
    }
    if (content.length === 0) {
      if (type !== ContentType.application_data) {
        throw new TlsPeerMisbehavedError(
          `Server sent an empty ${CONTENT_NAMES[type]} record`,
          "unexpected_message",
        );
      }
      this.#countEmpty();
      return { type, content };
    }
    if (this.#tls12 && type === ContentType.alert && this.#isWarning(content)) {
      log.debug("TLS 1.2 warning alert ignored", { alert: alertName(content[1]) });
      this.#countEmpty();
      return undefined;
    }
    this.#emptyInARow = 0;
    if (isLogEnabled("trace")) {
      log.trace("record in", { type: CONTENT_NAMES[type], bytes: content.length });
    }
    return { type, content };
  }

  /** A TLS 1.2 warning-level alert other than close_notify (RFC 5246 7.2). */
  #isWarning(content: Uint8Array): boolean {
    return content.length === 2 && content[0] === AlertLevel.warning &&
      content[1] !== Alert.close_notify;
  }

  #checkCcs(fragment: Uint8Array): void {
    if (this.#tls12 && this.#decrypter) {
      // RFC 5246 7.1: one change_cipher_spec per handshake; another one means renegotiation.
      throw new TlsPeerMisbehavedError(
        "Server sent change_cipher_spec after its keys were in use",
        "unexpected_message",
      );
    }
    if (!this.#ccsAllowed) {
      throw new TlsPeerMisbehavedError(
        "Server sent change_cipher_spec after its Finished message",
        "unexpected_message",
      );
    }
    if (fragment.length !== 1 || fragment[0] !== 0x01) {
      throw new TlsPeerMisbehavedError(
        "Server sent a change_cipher_spec record other than the single byte 0x01",
        "unexpected_message",
      );
    }
  }

  #countEmpty(): void {
    if (++this.#emptyInARow > MAX_EMPTY_RECORDS) {
      throw new TlsPeerMisbehavedError(
        `Server sent more than ${MAX_EMPTY_RECORDS} records in a row without content`,
        "unexpected_message",
      );
    }
  }

  /**
   * Runs `task` after every write queued before it: the one place that orders record writes
   * (and key changes) on this connection. A failed task fails only its own caller.
   */
  enqueueWrite<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#writeChain.then(() => {
      if (this.#closed) {
        throw new TlsLocalError("Cannot write: the connection is closed", undefined);
      }
      return task();
    });
    this.#writeChain = run.then(() => {}, () => {});
    return run;
  }

  /** Writes bytes to the transport now (call inside `enqueueWrite`). */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    if (isLogEnabled("trace")) log.trace("bytes out", { bytes: bytes.length });
    try {
      await writeAll(this.transport, bytes);
    } catch (err) {
      if (err instanceof TlsError) throw err;
      throw new TlsLocalError(`Writing to the server failed: ${messageOf(err)}`, undefined, {
        cause: err,
      });
    }
  }

  /**
   * Encodes `content` of `type` as records of at most 2^14 bytes, encrypted when write keys are
   * installed (call inside `enqueueWrite`, so the keys are the ones in use). Returns the bytes
   * to write.
   */
  encodeRecords(type: number, content: Uint8Array, legacyVersion = 0x0303): Uint8Array {
    const parts: Uint8Array[] = [];
    let at = 0;
    do {
      const piece = content.subarray(at, at + MAX_PLAINTEXT);
      parts.push(
        this.#encrypter
          ? this.#encrypter.sealRecord(type, piece)
          : encodePlaintextRecord(type, piece, legacyVersion),
      );
      at += MAX_PLAINTEXT;
    } while (at < content.length);
    return parts.length === 1 ? parts[0] : concatBytes(...parts);
  }

  /**
   * Packs `chunks` (`total` bytes of application data) into as few records as possible, each
   * built in place in one output buffer (the encrypter frames it: header, nonce, content type)
   * and encrypted there; call inside `enqueueWrite`. Returns the bytes to write.
   */
  async encodeApplicationData(chunks: readonly Uint8Array[], total: number): Promise<Uint8Array> {
    const encrypter = this.#encrypter!;
    let pending: Promise<void>[] | undefined;
    const records = Math.ceil(total / MAX_PLAINTEXT);
    const out = new Uint8Array(total + records * encrypter.recordOverhead);
    let ci = 0, co = 0, at = 0;
    for (let left = total; left > 0;) {
      const n = Math.min(left, MAX_PLAINTEXT);
      const recordAt = at;
      at += encrypter.contentOffset;
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
      const sealing = encrypter.sealApplicationData(out, recordAt, n);
      if (sealing) (pending ??= []).push(sealing);
      at = recordAt + n + encrypter.recordOverhead;
      left -= n;
    }
    if (pending) await Promise.all(pending);
    return out;
  }

  /**
   * Sends an alert if the socket still takes it (bounded by a short timeout: a peer that stopped
   * reading must not hold us), then closes. Never throws.
   */
  async abort(alert: AlertName | undefined): Promise<void> {
    if (this.#closed) return;
    if (alert) {
      const send = this.enqueueWrite(async () => {
        await this.writeBytes(this.encodeRecords(ContentType.alert, encodeAlert(alert)));
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((r) => timer = setTimeout(r, ALERT_TIMEOUT_MS));
      await Promise.race([send.catch(() => {}), timeout]);
      clearTimeout(timer);
    }
    this.close();
  }

  /**
   * Closes the transport (idempotent); queued writes fail, and the keys are disposed of: a
   * record still buffered then fails to open (TlsLocalError), which a closing connection
   * takes as the end of the stream.
   */
  close(): void {
    this.#closed = true;
    closeQuietly(this.transport);
    this.#decrypter?.dispose();
    this.#encrypter?.dispose();
  }
}
