/** A command line that cannot be carried out as written: exit 2. */
export class UsageError extends Error {
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit codes (DEVELOPERS.md): 0 success, 1 runtime failure, 2 usage, 78 config/credential. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONFIG = 78;

/** The exit code an error asks for (`exitCode` on domain errors), 1 otherwise. */
export function exitCodeOf(error: unknown): number {
  const code = (error as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === "number" && Number.isInteger(code) ? code : EXIT_FAILURE;
}
