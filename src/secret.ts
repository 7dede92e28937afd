/**
 * A value that must never be printed: PINs and key material. It renders as `[redacted]` in
 * string conversion, JSON, `Deno.inspect`, `console.log` and Node's `util.inspect`; the value
 * is only reachable through `expose()`, which makes every use easy to find.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call it only where the value is handed to the token. */
  expose(): string {
    return this.#value;
  }

  /** Whether two secrets hold the same value, without exposing either. */
  equals(other: Secret): boolean {
    return other.#value === this.#value;
  }

  toString(): string {
    return "[redacted]";
  }

  toJSON(): string {
    return "[redacted]";
  }

  [Symbol.for("Deno.customInspect")](): string {
    return "[redacted]";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[redacted]";
  }
}

/**
 * `text` with the value of every `pin-value` attribute (RFC 7512 PKCS#11 URIs) replaced by
 * `[redacted]`: for printing a URI that may carry a PIN in logs, errors and listings.
 */
export function redactPinValue(text: string): string {
  return text.replace(/(pin-value=)[^&#;]*/gi, "$1[redacted]");
}
