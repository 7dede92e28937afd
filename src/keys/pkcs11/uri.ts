/**
 * PKCS#11 URIs (RFC 7512). `KeyUri.parse` returns a valid URI or throws a `KeyUriError` naming
 * the attribute at fault; `toString()` writes the canonical form without `pin-value`, so a URI
 * can go into a message or a log line.
 *
 *   pkcs11:token=edge;serial=fa11;object=device-key;id=%01%02;type=private?pin-value=1234
 *          └──────────── path (section 2.3) ────────────────────────────┘ └─ query (2.4) ─┘
 */
import { redactPinValue, Secret } from "../../secret.ts";

/** A malformed PKCS#11 URI (a configuration error: exit 78). */
export class KeyUriError extends Error {
  override name = "KeyUriError";
  readonly kind = "configuration";

  constructor(readonly attribute: string | undefined, detail: string) {
    super(
      attribute
        ? `Invalid PKCS#11 URI attribute "${attribute}": ${detail}`
        : `Invalid PKCS#11 URI: ${detail}`,
    );
  }
}

export type ObjectType = "public" | "private" | "cert" | "secret-key" | "data";
const OBJECT_TYPES: readonly string[] = ["public", "private", "cert", "secret-key", "data"];

/** Path attributes of RFC 7512 section 2.3 (text-valued unless said otherwise). */
const PATH_ATTRS = [
  "token",
  "manufacturer",
  "serial",
  "model",
  "library-manufacturer",
  "library-description",
  "library-version",
  "object",
  "type",
  "id",
  "slot-manufacturer",
  "slot-description",
  "slot-id",
] as const;
/** Query attributes of section 2.4. */
const QUERY_ATTRS = ["pin-source", "pin-value", "module-name", "module-path"] as const;

// Section 2.3: characters a value may carry unencoded (RFC 3986 unreserved plus these).
const UNRESERVED = "A-Za-z0-9\\-._~";
const RES_AVAIL = ":\\[\\]@!$'()*+,=";
const PATH_CHAR = new RegExp(`[${UNRESERVED}${RES_AVAIL}&]`);
const QUERY_CHAR = new RegExp(`[${UNRESERVED}${RES_AVAIL}/?|]`);
const VENDOR_NAME = /^[A-Za-z0-9_-]+$/;

export interface KeyUriFields {
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: { major: number; minor: number };
  object?: string;
  type?: ObjectType;
  id?: Uint8Array;
  slotManufacturer?: string;
  slotDescription?: string;
  slotId?: bigint;
  pinSource?: string;
  pinValue?: Secret;
  moduleName?: string;
  modulePath?: string;
  /** Vendor path attributes (section 2.3), one value each. */
  vendorPath?: Readonly<Record<string, string>>;
  /** Vendor query attributes (section 2.4 lets them repeat). */
  vendorQuery?: Readonly<Record<string, readonly string[]>>;
}

export class KeyUri implements Readonly<KeyUriFields> {
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly libraryManufacturer?: string;
  readonly libraryDescription?: string;
  readonly libraryVersion?: { major: number; minor: number };
  readonly object?: string;
  readonly type?: ObjectType;
  readonly id?: Uint8Array;
  readonly slotManufacturer?: string;
  readonly slotDescription?: string;
  readonly slotId?: bigint;
  readonly pinSource?: string;
  readonly pinValue?: Secret;
  readonly moduleName?: string;
  readonly modulePath?: string;
  readonly vendorPath: Readonly<Record<string, string>>;
  readonly vendorQuery: Readonly<Record<string, readonly string[]>>;

  constructor(fields: KeyUriFields = {}) {
    Object.assign(this, fields);
    this.vendorPath = fields.vendorPath ?? {};
    this.vendorQuery = fields.vendorQuery ?? {};
  }

  /** Parses an RFC 7512 URI; throws a `KeyUriError` naming the offending attribute. */
  static parse(text: string): KeyUri {
    const m = /^pkcs11:([^?#]*)(?:\?([^#]*))?$/i.exec(text.trim());
    if (!m) {
      throw new KeyUriError(undefined, `"${redactPinValue(text)}" does not start with "pkcs11:"`);
    }
    const fields: KeyUriFields = {};
    const vendorPath: Record<string, string> = {};
    const vendorQuery: Record<string, string[]> = {};
    const seen = new Set<string>();
    for (const [name, raw] of attributes(m[1], ";", "path")) {
      const known = (PATH_ATTRS as readonly string[]).includes(name);
      if ((QUERY_ATTRS as readonly string[]).includes(name)) {
        throw new KeyUriError(name, `it is a query attribute: write it after "?"`);
      }
      if (seen.has(name)) throw new KeyUriError(name, "it appears more than once");
      seen.add(name);
      if (known) readPath(fields, name, raw);
      else vendorPath[name] = decodeText(name, raw, PATH_CHAR);
    }
    for (const [name, raw] of attributes(m[2] ?? "", "&", "query")) {
      if ((PATH_ATTRS as readonly string[]).includes(name)) {
        throw new KeyUriError(name, `it is a path attribute: write it before "?"`);
      }
      if ((QUERY_ATTRS as readonly string[]).includes(name)) {
        if (seen.has(name)) throw new KeyUriError(name, "it appears more than once");
        seen.add(name);
        readQuery(fields, name, raw);
      } else {
        (vendorQuery[name] ??= []).push(decodeText(name, raw, QUERY_CHAR));
      }
    }
    if (fields.pinSource !== undefined && fields.pinValue !== undefined) {
      // Section 2.4: a URI with both SHOULD be refused as invalid.
      throw new KeyUriError("pin-source", `it cannot be combined with "pin-value"`);
    }
    return new KeyUri({ ...fields, vendorPath, vendorQuery });
  }

  /** A copy with some fields replaced (undefined removes a field). */
  with(changes: Partial<KeyUriFields>): KeyUri {
    return new KeyUri({ ...this.#fields(), ...changes });
  }

  /** The canonical text; `pin-value` only when `includePin` (never for messages and logs). */
  toString({ includePin = false } = {}): string {
    const path: string[] = [];
    const put = (name: string, value: string | undefined) => {
      if (value !== undefined) path.push(`${name}=${encode(value, PATH_CHAR)}`);
    };
    put("token", this.token);
    put("manufacturer", this.manufacturer);
    put("serial", this.serial);
    put("model", this.model);
    put("library-manufacturer", this.libraryManufacturer);
    put("library-description", this.libraryDescription);
    if (this.libraryVersion) {
      path.push(`library-version=${this.libraryVersion.major}.${this.libraryVersion.minor}`);
    }
    put("slot-manufacturer", this.slotManufacturer);
    put("slot-description", this.slotDescription);
    if (this.slotId !== undefined) path.push(`slot-id=${this.slotId}`);
    put("object", this.object);
    if (this.id) path.push(`id=${Array.from(this.id, pct).join("")}`);
    if (this.type) path.push(`type=${this.type}`);
    for (const [k, v] of Object.entries(this.vendorPath)) put(k, v);
    const query: string[] = [];
    const q = (name: string, value: string | undefined) => {
      if (value !== undefined) query.push(`${name}=${encode(value, QUERY_CHAR)}`);
    };
    q("pin-source", this.pinSource);
    if (includePin) q("pin-value", this.pinValue?.expose());
    q("module-name", this.moduleName);
    q("module-path", this.modulePath);
    for (const [k, vs] of Object.entries(this.vendorQuery)) vs.forEach((v) => q(k, v));
    return `pkcs11:${path.join(";")}${query.length ? `?${query.join("&")}` : ""}`;
  }

  toJSON(): string {
    return this.toString();
  }

  [Symbol.for("Deno.customInspect")](): string {
    return `KeyUri(${this.toString()})`;
  }

  #fields(): KeyUriFields {
    const out: KeyUriFields = {};
    Object.assign(out, this);
    return out;
  }
}

function* attributes(
  component: string,
  separator: string,
  where: string,
): Generator<[string, string]> {
  if (component === "") return;
  for (const part of component.split(separator)) {
    const eq = part.indexOf("=");
    if (part === "") {
      throw new KeyUriError(undefined, `empty ${where} attribute (a doubled "${separator}")`);
    }
    if (eq < 0) {
      throw new KeyUriError(part, `expected "name=value" in the ${where}`);
    }
    // Attribute names are ABNF literals, which RFC 5234 section 2.3 makes case-insensitive.
    const name = part.slice(0, eq).toLowerCase();
    if (!VENDOR_NAME.test(name)) {
      throw new KeyUriError(part.slice(0, eq), "names are letters, digits, '-' and '_'");
    }
    yield [name, part.slice(eq + 1)];
  }
}

function readPath(f: KeyUriFields, name: string, raw: string): void {
  switch (name) {
    case "token":
    case "manufacturer":
    case "serial":
    case "model":
    case "object":
    case "library-manufacturer":
    case "library-description":
    case "slot-manufacturer":
    case "slot-description": {
      const key = name.replace(/-(.)/g, (_, c: string) => c.toUpperCase()) as keyof KeyUriFields;
      (f as Record<string, unknown>)[key] = decodeText(name, raw, PATH_CHAR);
      return;
    }
    case "id":
      f.id = decodeBytes(name, raw, PATH_CHAR);
      return;
    case "type":
      if (!OBJECT_TYPES.includes(raw.toLowerCase())) {
        throw new KeyUriError(name, `"${raw}" is not one of ${OBJECT_TYPES.join(", ")}`);
      }
      f.type = raw.toLowerCase() as ObjectType;
      return;
    case "slot-id":
      if (!/^\d+$/.test(raw)) throw new KeyUriError(name, `"${raw}" is not a decimal number`);
      f.slotId = BigInt(raw);
      return;
    case "library-version": {
      const v = /^(\d+)(?:\.(\d+))?$/.exec(raw);
      if (!v || +v[1] > 255 || +(v[2] ?? 0) > 255) {
        throw new KeyUriError(name, `"${raw}" is not "major[.minor]" with numbers up to 255`);
      }
      f.libraryVersion = { major: +v[1], minor: +(v[2] ?? 0) };
      return;
    }
  }
}

function readQuery(f: KeyUriFields, name: string, raw: string): void {
  switch (name) {
    case "pin-value":
      f.pinValue = new Secret(decodeText(name, raw, QUERY_CHAR, true));
      return;
    case "pin-source":
      f.pinSource = decodeText(name, raw, QUERY_CHAR);
      return;
    case "module-name":
      f.moduleName = decodeText(name, raw, QUERY_CHAR);
      return;
    case "module-path": {
      const path = decodeText(name, raw, QUERY_CHAR);
      // Section 2.4: a relative module path is refused.
      if (!path.startsWith("/")) throw new KeyUriError(name, `"${path}" is not an absolute path`);
      f.modulePath = path;
      return;
    }
  }
}

/** Percent-decodes to bytes, refusing characters the component allows only encoded. */
function decodeBytes(name: string, raw: string, allowed: RegExp, secret = false): Uint8Array {
  const out: number[] = [];
  const shown = secret ? "the value" : `"${raw}"`;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new KeyUriError(name, `${shown} has a bad percent-escape at offset ${i}`);
      }
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (allowed.test(c)) {
      out.push(c.charCodeAt(0));
    } else {
      const what = secret ? "a character" : `"${c}"`;
      throw new KeyUriError(name, `${shown} contains ${what} that must be percent-encoded`);
    }
  }
  return Uint8Array.from(out);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeText(name: string, raw: string, allowed: RegExp, secret = false): string {
  const bytes = decodeBytes(name, raw, allowed, secret);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new KeyUriError(name, `${secret ? "the value" : `"${raw}"`} is not valid UTF-8`);
  }
}

function pct(b: number): string {
  return `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
}

function encode(value: string, allowed: RegExp): string {
  let out = "";
  for (const b of new TextEncoder().encode(value)) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && allowed.test(c) ? c : pct(b);
  }
  return out;
}
