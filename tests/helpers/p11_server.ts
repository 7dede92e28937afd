/**
 * `hsm-bridge p11-server` as a separate process (cli.ts with the compile permission set), for
 * the socket-mode tests: it holds the SoftHSM token, the process under test does not.
 */
import { startCli } from "./cli.ts";
import type { TestProcess } from "./process.ts";
import { type SoftHsm, SOFTHSM_MODULE } from "./softhsm.ts";

/** Starts the server on `socketPath` for `hsm`'s tokens; resolves once it listens. */
export async function startP11ServerProcess(
  hsm: SoftHsm,
  socketPath: string,
  { pin = "1234", args = [] as string[], env = {} as Record<string, string> } = {},
): Promise<TestProcess> {
  const server = startCli(
    [
      "p11-server",
      "--socket-path",
      socketPath,
      "--module-path",
      SOFTHSM_MODULE,
      "--pin",
      pin,
      ...args,
    ],
    { env: { ...hsm.env, ...env } },
  );
  try {
    await server.waitForOutput(/Server listening/, 20_000);
  } catch (e) {
    await server.stop("SIGKILL");
    throw e;
  }
  return server;
}
