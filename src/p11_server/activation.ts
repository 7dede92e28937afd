/**
 * systemd socket activation (sd_listen_fds(3)): a socket unit hands the service its listening
 * sockets as file descriptors 3, 4, ... and says so in LISTEN_FDS, for the process LISTEN_PID.
 * A LISTEN_PID of another process means the variables were inherited, not meant for us.
 */

/** The first passed file descriptor (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

export interface Activation {
  /** The descriptor to listen on. */
  readonly fd: number;
  /** How many were passed; only the first is used. */
  readonly count: number;
}

/** The socket systemd passed to process `pid`, or undefined when there is none. */
export function activationFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): Activation | undefined {
  const listenPid = env.LISTEN_PID?.trim();
  const listenFds = env.LISTEN_FDS?.trim();
  if (!listenPid || !listenFds) return undefined;
  if (!/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  if (!/^\d+$/.test(listenFds)) return undefined;
  const count = Number(listenFds);
  return count > 0 ? { fd: SD_LISTEN_FDS_START, count } : undefined;
}
