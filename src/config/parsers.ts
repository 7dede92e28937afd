/**
 * Value types of tedge.toml keys. Each type parses the text a user types (`config set`, an
 * environment variable) and the value found in the TOML file, and turns a value back into
 * TOML and into the text `config get` prints. Parsers throw a RangeError whose message says
 * what was expected; the store adds the key and the value.
 */
import { redactPinValue, Secret } from "../secret.ts";

/** A TOML value as smol-toml reads and writes it (the subset tedge.toml uses). */
export type TomlValue = string | number | boolean | TomlValue[];

export interface ValueType<T> {
  /** What a valid value looks like, for error messages ("a port number 1-65535"). */
  readonly expected: string;
  fromString(text: string): T;
  /** Accepts the TOML native form and, leniently, a string holding the text form. */
  fromToml(value: unknown): T;
  toToml(value: T): TomlValue;
  format(value: T): string;
  /** Masks secrets a value can carry (a PIN in a PKCS#11 URI) for listings and errors. */
  redact?(text: string): string;
  /** The text as the user wrote it is the value's best form (`90s` stays `90s`, not `1m30s`). */
  readonly keepsText?: boolean;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

function textType<T>(
  expected: string,
  parse: (text: string) => T,
  format: (value: T) => string = String,
): ValueType<T> {
  return {
    expected,
    fromString: parse,
    fromToml(value) {
      if (typeof value !== "string") throw new RangeError(`expected ${expected}`);
      return parse(value);
    },
    toToml: (value) => format(value),
    format,
  };
}

function check(ok: boolean, expected: string): void {
  if (!ok) throw new RangeError(`expected ${expected}`);
}

export const stringType: ValueType<string> = textType("a string", (t) => t);

export const nonEmptyString: ValueType<string> = textType("a non-empty string", (t) => {
  check(t.trim().length > 0, "a non-empty string");
  return t;
});

export const secretType: ValueType<Secret> = {
  ...textType<Secret>("a non-empty string", (t) => {
    check(t.length > 0, "a non-empty string");
    return new Secret(t);
  }, (s) => s.expose()),
};

export const absPath: ValueType<string> = textType("an absolute path", (t) => {
  check(t.startsWith("/") && !t.includes("\0"), "an absolute path, e.g. /etc/tedge/file.pem");
  return t;
});

export const anyPath: ValueType<string> = textType("a path", (t) => {
  check(t.length > 0 && !t.includes("\0"), "a path");
  return t;
});

export const boolType: ValueType<boolean> = {
  expected: "true or false",
  fromString(text) {
    const t = text.trim().toLowerCase();
    check(t === "true" || t === "false", "true or false");
    return t === "true";
  },
  fromToml(value) {
    if (typeof value === "boolean") return value;
    return boolType.fromString(String(value));
  },
  toToml: (value) => value,
  format: String,
};

function integerType(min: number, max: number, expected: string): ValueType<number> {
  const parse = (text: string) => {
    check(/^\d+$/.test(text.trim()), expected);
    const n = Number(text.trim());
    check(Number.isSafeInteger(n) && n >= min && n <= max, expected);
    return n;
  };
  return {
    expected,
    fromString: parse,
    fromToml: (value) => parse(String(value)),
    toToml: (value) => value,
    format: String,
  };
}

export const u32Type: ValueType<number> = integerType(0, 0xffff_ffff, "an integer 0-4294967295");
export const portType: ValueType<number> = integerType(1, 65535, "a port number 1-65535");

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Parses `30`, `30s`, `5m`, `1h`, `1h30m`, `500ms` into milliseconds. */
export function parseDuration(text: string): number {
  const expected = "a duration like 30, 30s, 5m, 1h or 1h30m";
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  check(/^(\d+(h|ms|m|s))+$/.test(t), expected);
  let total = 0;
  for (const m of t.matchAll(/(\d+)(h|ms|m|s)/g)) total += Number(m[1]) * DURATION_UNITS[m[2]];
  check(Number.isSafeInteger(total), expected);
  return total;
}

/** Milliseconds as the shortest duration text: `60s`, `5m`, `1h30m`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of Object.entries(DURATION_UNITS)) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

export const durationType: ValueType<number> = {
  expected: "a duration like 30, 30s, 5m, 1h or 1h30m",
  fromString: parseDuration,
  fromToml: (value) => parseDuration(String(value)),
  toToml: (value) => formatDuration(value),
  format: formatDuration,
  keepsText: true,
};

/** A duration that must not be zero (reconnect intervals). */
export const positiveDurationType: ValueType<number> = {
  ...durationType,
  expected: "a duration above zero like 1s, 30s, 5m or 1h",
  fromString(text) {
    const ms = parseDuration(text);
    check(ms > 0, "a duration above zero like 1s, 30s, 5m or 1h");
    return ms;
  },
  fromToml: (value) => positiveDurationType.fromString(String(value)),
};

/** Size units, largest first, as `formatSize` writes them (parsing ignores case). */
const SIZE_UNITS: [string, number][] = [
  ["GiB", 2 ** 30],
  ["GB", 1e9],
  ["MiB", 2 ** 20],
  ["MB", 1e6],
  ["KiB", 2 ** 10],
  ["KB", 1e3],
  ["B", 1],
];
const SIZE_EXPECTED = "a size of at least 64KiB like 64MB, 512KiB or 1GB (KB = 1000, KiB = 1024)";
const MIN_SIZE = 64 * 1024;

/** Parses `64MB`, `512KiB`, `1GB` or a number of bytes into bytes (at least 64 KiB). */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const suffix = (m?.[2] || "b").toLowerCase();
  const unit = SIZE_UNITS.find(([name]) => name.toLowerCase() === suffix)?.[1];
  check(!!m && unit !== undefined, SIZE_EXPECTED);
  const bytes = Number(m![1]) * unit!;
  check(Number.isSafeInteger(bytes) && bytes >= MIN_SIZE, SIZE_EXPECTED);
  return bytes;
}

/** Bytes in the largest unit that divides them: `64MB`, `512KiB`, `70000B`. */
export function formatSize(bytes: number): string {
  const [name, size] = SIZE_UNITS.find(([, size]) => bytes >= size && bytes % size === 0) ??
    ["B", 1];
  return `${bytes / size}${name}`;
}

export const sizeType: ValueType<number> = {
  expected: SIZE_EXPECTED,
  fromString: parseSize,
  fromToml: (value) => parseSize(String(value)),
  toToml: (value) => formatSize(value),
  format: formatSize,
  keepsText: true,
};

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function isIpv4(t: string): boolean {
  const parts = t.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIpv6(t: string): boolean {
  return /^[0-9A-Fa-f:.]+$/.test(t) && t.includes(":") && (t.match(/::/g) ?? []).length <= 1;
}

/** A DNS name or an IP address; no scheme, port or path. */
export function parseHost(text: string): string {
  const t = text.trim();
  const expected =
    'a host name or IP address without scheme or port, e.g. "example.cumulocity.com"';
  check(!t.includes("://") && !t.includes("/"), expected);
  if (isIpv4(t) || isIpv6(t)) return t;
  const name = t.endsWith(".") ? t.slice(0, -1) : t;
  check(name.length > 0 && name.length <= 253, expected);
  check(name.split(".").every((l) => HOST_LABEL.test(l)), expected);
  return t;
}

export const hostType: ValueType<string> = textType(
  'a host name or IP address without scheme or port, e.g. "example.cumulocity.com"',
  parseHost,
);

/** `host`, `host:port`, `[v6]` or `[v6]:port`; `defaultPort` when no port is given. */
export function parseHostPort(text: string, defaultPort = 8883): HostPort {
  const t = text.trim();
  const expected = 'host[:port], e.g. "example.cumulocity.com:8883"';
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  let host: string;
  let port: string | undefined;
  if (v6) {
    check(isIpv6(v6[1]), expected);
    [host, port] = [v6[1], v6[2]];
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(t);
    check(m !== null, expected);
    [host, port] = [m![1], m![2]];
    try {
      parseHost(host);
    } catch {
      check(false, expected);
    }
  }
  const p = port === undefined ? defaultPort : Number(port);
  check(Number.isInteger(p) && p >= 1 && p <= 65535, expected);
  return { host, port: p };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export const hostPortType: ValueType<HostPort> = textType(
  'host[:port], e.g. "example.cumulocity.com:8883"',
  (t) => parseHostPort(t),
  formatHostPort,
);

export const stringListType: ValueType<string[]> = {
  expected: 'a comma-separated list, e.g. "a,b"',
  fromString: (text) => text.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
  fromToml(value) {
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
    if (typeof value === "string") return stringListType.fromString(value);
    throw new RangeError(`expected ${stringListType.expected}`);
  },
  toToml: (value) => value,
  format: (value) => value.join(","),
};

export const topicPrefixType: ValueType<string> = textType(
  'a topic prefix without "#" or "+", e.g. "c8y"',
  (t) => {
    check(
      t.length > 0 && !/[#+\0]/.test(t) && !t.startsWith("/") && !t.endsWith("/"),
      'a topic prefix without "#", "+" or a leading/trailing "/", e.g. "c8y"',
    );
    return t;
  },
);

export function enumType<T extends string>(values: readonly T[]): ValueType<T> {
  const expected = `one of ${values.join(", ")}`;
  return textType(expected, (t) => {
    check((values as readonly string[]).includes(t.trim()), expected);
    return t.trim() as T;
  });
}

/**
 * A TLS version, "1.2" or "1.3". In tedge.toml it may be written as a string or, as people will,
 * a bare number (`min_version = 1.3`).
 */
export const tlsVersionType: ValueType<"1.2" | "1.3"> = {
  ...enumType<"1.2" | "1.3">(["1.2", "1.3"]),
  fromToml(value) {
    const text = typeof value === "number" ? value.toFixed(1) : value;
    if (typeof text !== "string") throw new RangeError("expected one of 1.2, 1.3");
    return tlsVersionType.fromString(text);
  },
};

// RFC 7512 section 2.3: pk11-path attributes separated by ";", an optional "?" query.
const PK11_CHAR = String.raw`(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=&]|%[0-9A-Fa-f]{2})`;
const PK11_ATTR = `[a-z][a-z0-9-]*=${PK11_CHAR}*`;
const PK11_QATTR = String
  .raw`[a-z][a-z0-9-]*=(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=/?|]|%[0-9A-Fa-f]{2})*`;
const PK11_URI = new RegExp(
  `^pkcs11:(?:${PK11_ATTR}(?:;${PK11_ATTR})*)?(?:\\?${PK11_QATTR}(?:&${PK11_QATTR})*)?$`,
);

/** A syntax check of an RFC 7512 PKCS#11 URI; the key providers parse its meaning. */
export const pkcs11UriType: ValueType<string> = {
  ...textType(
    'a PKCS#11 URI (RFC 7512), e.g. "pkcs11:token=edge;object=device-key"',
    (t) => {
      check(
        PK11_URI.test(t.trim()),
        'a PKCS#11 URI (RFC 7512), e.g. "pkcs11:token=edge;object=device-key"',
      );
      return t.trim();
    },
  ),
  redact: redactPinValue,
};

/** One topic level (`te`): no wildcard, no `/`. */
export const topicLevelType: ValueType<string> = textType(
  'one MQTT topic level without "/", "+" or "#", e.g. "te"',
  (t) => {
    check(
      t.length > 0 && !/[/#+\0]/.test(t),
      'one MQTT topic level without "/", "+" or "#", e.g. "te"',
    );
    return t;
  },
);

/** A thin-edge entity topic id: four levels, `device/main//` or `device/child1/service/x`. */
export const entityTopicIdType: ValueType<string> = textType(
  'a topic id of four levels like "device/main//"',
  (t) => {
    const levels = t.split("/");
    check(
      levels.length === 4 && levels[0] !== "" && levels[1] !== "" && !/[#+\0]/.test(t),
      'a topic id of four levels like "device/main//"',
    );
    return t;
  },
);
