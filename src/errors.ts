/**
 * What kind of failure an error is, and the exit code it ends a command with: the one rule,
 * used by the CLI (exit codes), the bridge (stop or retry) and the docs test (which errors
 * docs/troubleshooting.md must explain). A leaf: it imports nothing of ours.
 *
 * | kind          | exit | examples                                         | `run`              |
 * |---------------|------|--------------------------------------------------|--------------------|
 * | usage         | 2    | unknown command, option or config key             | -                  |
 * | configuration | 78   | bad config value, missing module, bad rule file   | stops (EX_CONFIG)  |
 * | credential    | 78   | wrong PIN, key and certificate that do not match  | stops, never retried |
 * | (none)        | 1    | runtime failure: network, token unplugged, timeout | retries on backoff |
 *
 * An error class declares its kind with a `kind` field (`readonly kind = "configuration"`);
 * the shipped systemd unit does not restart on 78, because a restart cannot fix it and
 * retrying a PIN can lock the token.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** EX_CONFIG of sysexits.h. */
export const EXIT_CONFIG = 78;

export const ERROR_KINDS = ["usage", "configuration", "credential"] as const;
export type ErrorKind = typeof ERROR_KINDS[number];

const EXIT_CODES: Record<ErrorKind, number> = {
  usage: EXIT_USAGE,
  configuration: EXIT_CONFIG,
  credential: EXIT_CONFIG,
};

/** How far down a cause chain the classification looks (wrappers nest a few deep at most). */
const MAX_CAUSE_DEPTH = 8;

/** The kind `e` itself declares, if any (its causes are not looked at). */
export function kindOf(e: unknown): ErrorKind | undefined {
  const kind = (e as { kind?: unknown } | null | undefined)?.kind;
  return (ERROR_KINDS as readonly unknown[]).includes(kind) ? kind as ErrorKind : undefined;
}

/** The exit code a command that failed with `e` ends with: by `e`'s own kind, else 1. */
export function exitCodeOf(e: unknown): number {
  const kind = kindOf(e);
  return kind ? EXIT_CODES[kind] : EXIT_FAILURE;
}

/** `e` and its causes, outermost first, at most MAX_CAUSE_DEPTH of them (a cycle ends there). */
function* causeChain(e: unknown): Generator<Error> {
  for (let c = e, depth = 0; c instanceof Error && depth < MAX_CAUSE_DEPTH; depth++) {
    yield c;
    c = c.cause;
  }
}

/** The first error in `e`'s cause chain (`e` included) of the given kind. */
export function findKind(e: unknown, kind: ErrorKind): Error | undefined {
  for (const c of causeChain(e)) if (kindOf(c) === kind) return c;
  return undefined;
}

/** The first error in `e`'s cause chain (`e` included) of class `cls`. */
export function findError<T extends Error>(
  e: unknown,
  cls: new (...args: never[]) => T,
): T | undefined {
  for (const c of causeChain(e)) if (c instanceof cls) return c;
  return undefined;
}

/** Whether a credential was refused anywhere in `e`'s cause chain (wrong PIN, foreign key). */
export function isCredentialError(e: unknown): boolean {
  return findKind(e, "credential") !== undefined;
}

/** Whether a configuration value or file is at fault anywhere in `e`'s cause chain. */
export function isConfigurationError(e: unknown): boolean {
  return findKind(e, "configuration") !== undefined;
}
