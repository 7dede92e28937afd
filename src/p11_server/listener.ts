/**
 * Where `hsm-bridge p11-server` listens (the one place it touches sockets and the lock file):
 * the socket systemd passed (socket activation), or a socket it binds itself:
 *
 *   1. create the parent directory if it is missing;
 *   2. take an flock on `<socket>.lock`, held for the life of the server (the kernel drops it
 *      when the process dies, even on SIGKILL): a second server stops here;
 *   3. bind; a socket file in the way is removed only when a ping gets no answer (a filesystem
 *      where flock silently does nothing must not let us steal a live server's socket);
 *   4. socket mode 0660 (owner and group: the tedge group, as the systemd socket unit);
 *   5. on close: stop listening, remove the socket file, release the lock.
 *
 * Node's net module serves both cases: Deno's own listener cannot adopt an inherited
 * descriptor.
 */
import net from "node:net";
import { getLogger } from "../log.ts";
import type { Activation } from "./activation.ts";

const log = getLogger("p11-server");

export interface ListenOptions {
  socketPath: string;
  activation?: Activation;
  /** Whether a server answers on the socket file at `path` (a ping). */
  isAlive(path: string): Promise<boolean>;
}

export interface Listener {
  /** For logs: the path, or the descriptor systemd passed. */
  readonly description: string;
  /** Stops listening; a socket this process bound is removed, its lock released. */
  close(): Promise<void>;
}

type OnConnection = (socket: net.Socket) => void;

function listenOn(server: net.Server, target: string | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (e: Error) => reject(e);
    server.once("error", failed);
    server.listen(target, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function listen(opts: ListenOptions, onConnection: OnConnection): Promise<Listener> {
  // Half-open: the client shuts down its write side after the request, we answer after that.
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  if (opts.activation) {
    const { fd, count } = opts.activation;
    if (count > 1) log.warn("Received several sockets from systemd; only the first is used");
    await listenOn(server, { fd });
    return { description: `socket passed by systemd (fd ${fd})`, close: () => closeServer(server) };
  }
  return await bindSocket(server, opts);
}

async function bindSocket(server: net.Server, opts: ListenOptions): Promise<Listener> {
  const path = opts.socketPath;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(dir, { recursive: true }).catch((e) => {
    throw new Error(`Cannot create the socket directory "${dir}": ${e.message}`, { cause: e });
  });
  const lockPath = `${path}.lock`;
  const lock = await Deno.open(lockPath, { create: true, write: true, mode: 0o600 }).catch((e) => {
    throw new Error(`Cannot open the socket lock "${lockPath}": ${e.message}`, { cause: e });
  });
  try {
    if (!(await lock.tryLock(true))) throw anotherInstance(path, "it holds the lock");
    try {
      await listenOn(server, path);
    } catch (e) {
      if ((e as { code?: string }).code !== "EADDRINUSE") throw bindError(path, e);
      await removeStale(path, opts);
      await listenOn(server, path).catch((e) => {
        throw bindError(path, e);
      });
    }
    await Deno.chmod(path, 0o660);
  } catch (e) {
    lock.close();
    throw e;
  }
  return {
    description: path,
    async close() {
      await closeServer(server);
      // Node removes the file on close; make sure, without touching anyone else's socket.
      if ((await Deno.lstat(path).catch(() => undefined))?.isSocket) {
        await Deno.remove(path).catch(() => {});
      }
      lock.close();
    },
  };
}

/** The socket file is in the way of bind: remove it if it is a dead server's. */
async function removeStale(path: string, opts: ListenOptions): Promise<void> {
  const stat = await Deno.lstat(path);
  if (!stat.isSocket) {
    throw new Error(`Cannot listen on "${path}": a file that is not a socket is in the way`);
  }
  if (await opts.isAlive(path)) throw anotherInstance(path, "it answers a ping");
  log.warn("Removing a stale socket file left over by a previous run", { socket: path });
  await Deno.remove(path);
}

function anotherInstance(path: string, why: string): Error {
  return new Error(`Another instance is already listening on the socket at "${path}" (${why})`);
}

function bindError(path: string, e: unknown): Error {
  return new Error(`Cannot listen on "${path}": ${(e as Error).message}`, { cause: e });
}
