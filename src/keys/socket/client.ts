/**
 * A client of tedge-p11-server (or `hsm-bridge p11-server`): one request per connection, the
 * answer checked for its type, and an old server told apart from a broken one.
 *
 * How an old server shows itself (thin-edge docs/src/references/tedge-p11-server.md, and its
 * proxy/server.rs through the releases):
 * - 2.0.0 and later answer a tag they do not know with
 *   `Error("read: Failed to parse the received frame: ...")`;
 * - before 2.0.0 they close the connection without an answer. An empty answer to a request
 *   younger than the first protocol is then probed: the server is sent a frame every version
 *   knows and refuses without touching the token (an Error frame, answered "invalid request").
 *   An answer to that means the server is alive and older than the request.
 */
import type { Secret } from "../../secret.ts";
import { getLogger } from "../../log.ts";
import { PinLockedError } from "../errors.ts";
import { P11ConnectionError, P11ServerError, P11VersionError } from "./errors.ts";
import { exchange } from "./_exchange.ts";
import {
  type CreateKeyFields,
  decodeFrame,
  describeFrame,
  encodeFrame,
  type Frame1,
  FrameError,
  type FrameOf,
  type FrameType,
} from "./frame.ts";

const log = getLogger("p11-client");

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The first tedge-p11-server release that understands each request (older: the first). */
const SINCE: Partial<Record<FrameType, string>> = {
  SignRequestWithSigScheme: "1.6.1",
  GetPublicKeyPemRequest: "1.7.0",
  Ping: "1.7.0",
  CreateKeyRequest: "1.7.0",
  GetTokensUrisRequest: "1.7.0",
  InitTokenRequest: "after 2.0.1",
  ListTokensRequest: "after 2.0.1",
  ChangePinRequest: "after 2.0.1",
  DeleteKeyRequest: "after 2.0.1",
  ListKeysRequest: "after 2.0.1",
};

/** What an old server says about a frame it cannot parse (thin-edge's connection.rs). */
const CANNOT_PARSE = "Failed to parse the received frame";

export interface P11ClientOptions {
  socketPath: string;
  /** For each request: connect, send, answer (default 30 s). */
  timeoutMs?: number;
}

export class P11Client {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(opts: P11ClientOptions) {
    this.socketPath = opts.socketPath;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  get #where(): string {
    return `tedge-p11-server at "${this.socketPath}"`;
  }

  /** Sends `request`, returns the answer if it is an `expect` frame, else throws. */
  async request<T extends FrameType>(request: Frame1, expect: T): Promise<FrameOf<T>> {
    const started = performance.now();
    const bytes = await exchange(this.socketPath, encodeFrame(request), {
      timeoutMs: this.timeoutMs,
    });
    if (bytes.length === 0) throw await this.#silent(request);
    let answer: Frame1;
    try {
      answer = decodeFrame(bytes);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      throw new P11ConnectionError(
        `${this.#where} answered ${request.type} with ${bytes.length} bytes that are not a ` +
          `frame of its protocol: ${e.message}`,
      );
    }
    log.debug("request answered", {
      request: request.type,
      answer: answer.type,
      ms: Math.round(performance.now() - started),
    });
    if (answer.type === expect) return answer as FrameOf<T>;
    if (answer.type === "Error") {
      if (answer.message.includes(CANNOT_PARSE) && SINCE[request.type]) {
        throw this.#tooOld(request);
      }
      const refused = new P11ServerError(
        `${this.#where} refused ${request.type}: ${answer.message}`,
        answer.message,
      );
      if (!refused.pinLocked) throw refused;
      throw new PinLockedError(
        `PIN locked for the token behind ${this.#where}: ${answer.message}; it refuses every ` +
          `login, right or wrong, until the lockout ends: on the host, a TPM ends its ` +
          `dictionary-attack lockout by itself after its recovery time, or at once with ` +
          `"tpm2_dictionarylockout --clear-lockout"; a smart card needs its SO PIN`,
        this.#where,
        { cause: refused },
      );
    }
    throw new P11ConnectionError(
      `${this.#where} answered ${request.type} with ${describeFrame(answer)} instead of ${expect}`,
    );
  }

  #tooOld(request: Frame1): P11VersionError {
    const since = SINCE[request.type]!;
    const needed = since.startsWith("after") ? `a release ${since}` : `${since} or later`;
    return new P11VersionError(
      `${this.#where} is too old for ${request.type}: it needs tedge-p11-server ${needed} ` +
        `(or hsm-bridge p11-server); upgrade the server`,
    );
  }

  /** An empty answer: an old server that could not parse the request, or a dying one. */
  async #silent(request: Frame1): Promise<Error> {
    const closed = new P11ConnectionError(
      `${this.#where} closed the connection without answering ${request.type} (is it ` +
        `restarting, or did it fail to start? see its log)`,
    );
    if (!SINCE[request.type]) return closed;
    try {
      const probe = encodeFrame({ type: "Error", message: "hsm-bridge: protocol probe" });
      const answer = await exchange(this.socketPath, probe, { timeoutMs: this.timeoutMs });
      decodeFrame(answer);
      return this.#tooOld(request);
    } catch {
      return closed;
    }
  }

  async ping(): Promise<void> {
    await this.request({ type: "Ping" }, "Pong");
  }

  chooseScheme(
    offered: readonly number[],
    uri: string | undefined,
    pin: Secret | undefined,
  ): Promise<FrameOf<"ChooseSchemeResponse">> {
    return this.request({ type: "ChooseSchemeRequest", offered, uri, pin }, "ChooseSchemeResponse");
  }

  /** Signs with an explicit scheme (one of SIG_SCHEMES), or the key's default when undefined. */
  async sign(
    toSign: Uint8Array,
    uri: string | undefined,
    sigscheme: number | undefined,
    pin: Secret | undefined,
  ): Promise<Uint8Array> {
    const request: Frame1 = { type: "SignRequestWithSigScheme", toSign, uri, sigscheme, pin };
    return (await this.request(request, "SignResponse")).signature;
  }

  async publicKeyPem(uri: string | undefined): Promise<string> {
    return (await this.request({ type: "GetPublicKeyPemRequest", uri }, "GetPublicKeyPemResponse"))
      .pem;
  }

  createKey(req: CreateKeyFields): Promise<FrameOf<"CreateKeyResponse">> {
    return this.request({ type: "CreateKeyRequest", ...req }, "CreateKeyResponse");
  }

  async tokenUris(): Promise<readonly string[]> {
    return (await this.request({ type: "GetTokensUrisRequest" }, "GetTokensUrisResponse")).uris;
  }

  async listTokens(): Promise<FrameOf<"ListTokensResponse">["tokens"]> {
    return (await this.request({ type: "ListTokensRequest" }, "ListTokensResponse")).tokens;
  }

  async listKeys(
    uri: string | undefined,
    pin: Secret | undefined,
  ): Promise<FrameOf<"ListKeysResponse">["keys"]> {
    return (await this.request({ type: "ListKeysRequest", uri, pin }, "ListKeysResponse")).keys;
  }
}
