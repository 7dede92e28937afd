/**
 * Starting and stopping the server: the token side first (a module that does not load stops
 * us before anyone can connect), then the socket; stopping undoes both in reverse order.
 */
import { getLogger } from "../log.ts";
import { type KeyUri, P11Client, P11ConnectionError, type Secret } from "../keys/mod.ts";
import type { Activation } from "./activation.ts";
import { listen } from "./listener.ts";
import { ModuleService } from "./module_service.ts";
import { P11Server, type P11ServerOptions } from "./server.ts";
import type { P11Service } from "./service.ts";

const log = getLogger("p11-server");

export interface StartOptions extends P11ServerOptions {
  socketPath: string;
  activation?: Activation;
  modulePath: string;
  pin: Secret;
  uri?: KeyUri;
  /** Another token side (tests); default: the PKCS#11 module at `modulePath`. */
  service?: P11Service;
}

export interface RunningServer {
  readonly server: P11Server;
  /** Where it listens, for logs. */
  readonly where: string;
  stop(): Promise<void>;
}

/** Whether something answers on the socket at `path` (any frame counts, even an Error). */
async function isAlive(path: string): Promise<boolean> {
  try {
    await new P11Client({ socketPath: path, timeoutMs: 2_000 }).ping();
    return true;
  } catch (e) {
    return !(e instanceof P11ConnectionError);
  }
}

export async function startP11Server(opts: StartOptions): Promise<RunningServer> {
  const service = opts.service ?? await ModuleService.create({
    modulePath: opts.modulePath,
    pin: opts.pin,
    uri: opts.uri,
  });
  const server = new P11Server(service, opts);
  let listener;
  try {
    listener = await listen(
      { socketPath: opts.socketPath, activation: opts.activation, isAlive },
      server.accept,
    );
  } catch (e) {
    await service.close();
    throw e;
  }
  log.info("Server listening", { listener: listener.description });
  return {
    server,
    where: listener.description,
    async stop() {
      // Stop accepting first; the listener closes once the open connections are gone, which
      // server.close() sees to after the queued requests are answered.
      const closed = listener.close();
      await server.close();
      await closed;
      await service.close();
      log.info("Server stopped", { requests: server.served });
    },
  };
}
