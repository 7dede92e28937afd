/**
 * Byte transports the MQTT clients run over. `ByteTransport` is the small interface our own
 * TLS 1.3 client's connection has (`read`, `write`, `close`, `closed`); the Deno TCP and Deno
 * TLS connections are adapted to it here, so that one Duplex adapter serves them all.
 */

/** A connected, bidirectional byte stream. */
export interface ByteTransport {
  /** The next bytes received, or null once the peer has closed the stream. */
  read(): Promise<Uint8Array | null>;
  /**
   * Sends all of `data`. Once the promise settles, the transport no longer reads `data`: the
   * caller may reuse it (the Duplex adapter does).
   */
  write(data: Uint8Array): Promise<void>;
  /** Closes the stream (idempotent). */
  close(): Promise<void>;
  /** Settles once the stream is closed, whoever closed it. */
  readonly closed?: Promise<void>;
}

/** Opens a new transport; the cloud side is given one of these (TLS + token, Deno TLS, TCP). */
export type TransportFactory = (signal?: AbortSignal) => Promise<ByteTransport>;

/**
 * A transport failure. mqtt.js ignores stream errors without a `code`, so every error that
 * reaches it carries one (a Node-style code such as ECONNRESET, or ETRANSPORT).
 */
export class TransportError extends Error {
  constructor(message: string, readonly code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransportError";
  }

  /** `e` itself when it already has a string code, else a TransportError wrapping it. */
  static from(e: unknown, fallbackCode = "ETRANSPORT"): Error & { code: string } {
    if (e instanceof Error && typeof (e as { code?: unknown }).code === "string") {
      return e as Error & { code: string };
    }
    const message = e instanceof Error ? e.message : String(e);
    return new TransportError(message, codeOf(e) ?? fallbackCode, { cause: e });
  }
}

function codeOf(e: unknown): string | undefined {
  if (e instanceof Deno.errors.ConnectionReset) return "ECONNRESET";
  if (e instanceof Deno.errors.ConnectionRefused) return "ECONNREFUSED";
  if (e instanceof Deno.errors.ConnectionAborted) return "ECONNABORTED";
  if (e instanceof Deno.errors.BrokenPipe) return "EPIPE";
  if (e instanceof Deno.errors.TimedOut) return "ETIMEDOUT";
  if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) {
    return "ECONNRESET";
  }
  return undefined;
}

const READ_BUFFER_BYTES = 64 * 1024;

/** Adapts a Deno TCP or TLS connection to `ByteTransport`. */
export function connTransport(conn: Deno.Conn): ByteTransport {
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  let closed = false;
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((r) => resolveClosed = r);
  const close = () => {
    if (!closed) {
      closed = true;
      try {
        conn.close();
      } catch { /* already closed */ }
      resolveClosed();
    }
    return Promise.resolve();
  };
  return {
    async read() {
      if (closed) return null;
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (e) {
        if (closed) return null;
        throw e;
      }
      if (n === null) {
        await close();
        return null;
      }
      // Copy: the read buffer is reused, and the MQTT parser may keep the chunk.
      return buffer.slice(0, n);
    },
    async write(data) {
      let offset = 0;
      while (offset < data.length) offset += await conn.write(data.subarray(offset));
    },
    close,
    closed: closedPromise,
  };
}

export interface TcpOptions {
  hostname: string;
  port: number;
}

/** Plain TCP (the local broker, or tests). */
export function tcpTransport(opts: TcpOptions): TransportFactory {
  return async () => {
    const conn = await Deno.connect({ hostname: opts.hostname, port: opts.port });
    conn.setNoDelay(true);
    return connTransport(conn);
  };
}

export interface DenoTlsOptions extends TcpOptions {
  /**
   * PEM trust anchors (`c8y.root_cert_path`). Deno adds them to its built-in root store
   * (Mozilla's list, or the system's with DENO_TLS_CA_STORE=system); it has no way to trust
   * only these.
   */
  caCerts: string[];
  /** Client certificate chain (PEM) and its private key (PEM) for mutual TLS. */
  certChain?: string;
  privateKey?: string;
}

/** A certificate verification or handshake failure of Deno's TLS. */
export class TlsHandshakeError extends TransportError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, "ETLS", options);
    this.name = "TlsHandshakeError";
  }
}

/**
 * Deno's own TLS (rustls): file keys only, as ARCHITECTURE.md allows. The handshake completes
 * before the factory resolves, so an untrusted server fails here with rustls' reason.
 */
export function denoTlsTransport(opts: DenoTlsOptions): TransportFactory {
  return async () => {
    const where = `${opts.hostname}:${opts.port}`;
    let conn: Deno.TlsConn;
    try {
      conn = await Deno.connectTls({
        hostname: opts.hostname,
        port: opts.port,
        caCerts: opts.caCerts,
        ...(opts.certChain && opts.privateKey
          ? { cert: opts.certChain, key: opts.privateKey }
          : {}),
      });
    } catch (e) {
      throw TransportError.from(e);
    }
    try {
      await conn.handshake();
    } catch (e) {
      try {
        conn.close();
      } catch { /* already closed */ }
      const reason = e instanceof Error ? e.message : String(e);
      throw new TlsHandshakeError(`TLS handshake with ${where} failed: ${reason}`, { cause: e });
    }
    return connTransport(conn);
  };
}
