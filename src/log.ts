/**
 * Levelled text logger: `<ISO time> <LEVEL> <area>: <message> key=value ...` on stderr.
 *
 * Values are rendered here, not by callers, so that a `Secret` (or anything with a custom
 * inspect that redacts) can never leak: objects go through `Deno.inspect`, which honours
 * `Secret`'s redaction, and strings are printed as given.
 */

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
};

let currentLevel: LogLevel = "info";
let currentSink: LogSink = stderrSink;

/** Parses a `--log-level` value; throws a RangeError naming the accepted levels. */
export function parseLogLevel(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new RangeError(`Invalid log level "${value}": expected one of ${LOG_LEVELS.join(", ")}`);
}

export function setLogLevel(level: LogLevel): void {
  currentLevel = level;
}

export function getLogLevel(): LogLevel {
  return currentLevel;
}

/** Whether a message at `level` would be written. */
export function isLogEnabled(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(currentLevel);
}

/** Replaces where lines go (tests); returns the previous sink. */
export function setLogSink(sink: LogSink | undefined): LogSink {
  const previous = currentSink;
  currentSink = sink ?? stderrSink;
  return previous;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) {
    return JSON.stringify(isLogEnabled("debug") ? value.stack ?? value.message : value.message);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  return Deno.inspect(value, { colors: false, compact: true, breakLength: Infinity, depth: 4 });
}

/** Formats one log line (exported for tests). */
export function formatLogLine(
  level: LogLevel,
  area: string,
  message: string,
  fields: LogFields | undefined,
  now: Date = new Date(),
): string {
  let line = `${now.toISOString()} ${level.toUpperCase().padEnd(5)} ${area}: ${message}`;
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (value !== undefined) line += ` ${key}=${renderValue(value)}`;
  }
  return line;
}

export class Logger {
  constructor(readonly area: string) {}

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (isLogEnabled(level)) currentSink(formatLogLine(level, this.area, message, fields));
  }

  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }

  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }

  trace(message: string, fields?: LogFields): void {
    this.log("trace", message, fields);
  }
}

/** The logger for one area of the code (`bridge`, `tls`, `pkcs11`, ...). */
export function getLogger(area: string): Logger {
  return new Logger(area);
}
