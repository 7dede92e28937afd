/**
 * Edits one key of a TOML document in place, keeping comments, blank lines and the formatting
 * of every other line. Only the text of the changed value (or the one removed/added line)
 * changes.
 *
 * How: scan the document into statements (table headers and `key = value` assignments, with
 * their character spans; values may span lines), find the assignment whose full dotted key is
 * the target, and splice. A new key goes into its own table (`[c8y.bridge]` for
 * `c8y.bridge.topic_prefix`) when that table exists, next to a sibling dotted key when one
 * exists, and otherwise into a new table at the end. The caller re-parses the result and checks
 * that only the target key changed, so a document this scanner misreads is refused, not damaged.
 */
import { stringify } from "smol-toml";
import type { TomlValue } from "./parsers.ts";

interface Statement {
  kind: "table" | "array-table" | "assign";
  /** Full dotted path: the table's path, or table path + assignment key. */
  path: string[];
  /** Span of the whole line(s), from line start to the end of the line's newline. */
  lineStart: number;
  lineEnd: number;
  /** Assignments: span of the value text. */
  valueStart: number;
  valueEnd: number;
  /** Assignments: the key as written relative to its table. */
  relKey: string[];
  /** Assignments: leading whitespace of the line. */
  indent: string;
}

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(n = 0): string {
    return this.text[this.pos + n] ?? "";
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  fail(what: string): never {
    throw new SyntaxError(`cannot read ${what} at offset ${this.pos}`);
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }

  /** Spaces, newlines and comments (inside arrays). */
  skipBlank(): void {
    for (;;) {
      this.skipSpaces();
      if (this.peek() === "#") this.skipToEol();
      else if (this.peek() === "\n" || this.peek() === "\r") this.pos++;
      else return;
    }
  }

  skipToEol(): void {
    while (!this.done && this.peek() !== "\n") this.pos++;
  }

  /** Past the end of the line (including its newline). */
  nextLine(): void {
    this.skipToEol();
    if (this.peek() === "\n") this.pos++;
  }

  key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '"') parts.push(JSON.parse(this.text.slice(this.pos, this.basicString())));
      else if (c === "'") {
        const start = this.pos + 1;
        parts.push(this.text.slice(start, this.literalString() - 1));
      } else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos, this.pos + 256));
        if (!m) this.fail("a key");
        parts.push(m[0]);
        this.pos += m[0].length;
      }
      this.skipSpaces();
      if (this.peek() !== ".") return parts;
      this.pos++;
    }
  }

  /** Past a "..." string; returns the end offset. */
  basicString(): number {
    this.pos++;
    while (!this.done && this.peek() !== '"') {
      if (this.peek() === "\n") this.fail("a string");
      this.pos += this.peek() === "\\" ? 2 : 1;
    }
    if (this.done) this.fail("a string");
    return ++this.pos;
  }

  literalString(): number {
    const end = this.text.indexOf("'", this.pos + 1);
    if (end < 0 || this.text.slice(this.pos, end).includes("\n")) this.fail("a string");
    return this.pos = end + 1;
  }

  multiline(quote: string): void {
    this.pos += 3;
    for (;;) {
      const i = this.text.indexOf(quote, this.pos);
      if (i < 0) this.fail("a multi-line string");
      if (quote === '"""') {
        let backslashes = 0;
        for (let j = i - 1; this.text[j] === "\\"; j--) backslashes++;
        if (backslashes % 2 === 1) {
          this.pos = i + 1;
          continue;
        }
      }
      this.pos = i + 3;
      while (this.peek() === quote[0] && this.pos - i < 5) this.pos++;
      return;
    }
  }

  value(): void {
    if (this.startsWith('"""') || this.startsWith("'''")) {
      return this.multiline(this.peek().repeat(3));
    }
    const c = this.peek();
    if (c === '"') {
      this.basicString();
    } else if (c === "'") {
      this.literalString();
    } else if (c === "[" || c === "{") {
      const close = c === "[" ? "]" : "}";
      this.pos++;
      for (;;) {
        this.skipBlank();
        if (this.peek() === close) break;
        if (this.done) this.fail("an array or inline table");
        if (close === "}") {
          this.key();
          this.skipSpaces();
          if (this.peek() !== "=") this.fail("an inline table");
          this.pos++;
          this.skipSpaces();
        }
        this.value();
        this.skipBlank();
        if (this.peek() === ",") this.pos++;
      }
      this.pos++;
    } else {
      const m = /^[^\s,\]}#]+/.exec(this.text.slice(this.pos, this.pos + 256));
      if (!m) this.fail("a value");
      this.pos += m[0].length;
    }
  }
}

function scan(text: string): Statement[] {
  const s = new Scanner(text);
  const out: Statement[] = [];
  let table: string[] = [];
  while (!s.done) {
    const lineStart = s.pos;
    s.skipSpaces();
    const indent = text.slice(lineStart, s.pos);
    const c = s.peek();
    if (c === "#" || c === "\n" || c === "\r" || c === "") {
      s.nextLine();
      continue;
    }
    if (c === "[") {
      const array = s.peek(1) === "[";
      s.pos += array ? 2 : 1;
      table = s.key();
      s.pos += array ? 2 : 1;
      s.nextLine();
      out.push({
        kind: array ? "array-table" : "table",
        path: table,
        lineStart,
        lineEnd: s.pos,
        valueStart: -1,
        valueEnd: -1,
        relKey: [],
        indent,
      });
      continue;
    }
    const relKey = s.key();
    if (s.peek() !== "=") s.fail("an assignment");
    s.pos++;
    s.skipSpaces();
    const valueStart = s.pos;
    s.value();
    const valueEnd = s.pos;
    s.nextLine();
    out.push({
      kind: "assign",
      path: [...table, ...relKey],
      lineStart,
      lineEnd: s.pos,
      valueStart,
      valueEnd,
      relKey,
      indent,
    });
  }
  return out;
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const startsWith = (a: string[], prefix: string[]) =>
  prefix.length <= a.length && prefix.every((x, i) => x === a[i]);

/** A key as TOML source: bare when it can be, quoted otherwise. */
function keyText(parts: string[]): string {
  return parts.map((p) => /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p)).join(".");
}

/** A value as TOML source (`"text"`, `42`, `true`, `[ "a", "b" ]`). */
export function valueText(value: TomlValue): string {
  return stringify({ v: value }).trim().replace(/^v = /, "");
}

/** The end of a table's block: after its last assignment (trailing comments stay below). */
function blockEnd(statements: Statement[], headerIndex: number): number {
  let end = headerIndex >= 0 ? statements[headerIndex].lineEnd : 0;
  for (let i = headerIndex + 1; i < statements.length; i++) {
    if (statements[i].kind !== "assign") break;
    end = statements[i].lineEnd;
  }
  return end;
}

function insertLine(text: string, at: number, line: string): string {
  return `${text.slice(0, at)}${line}\n${text.slice(at)}`;
}

/** `text` with `key` set to `value`. */
export function setTomlKey(source: string, key: string, value: TomlValue): string {
  // A final newline makes every statement end with one; it is the only change made to a
  // line other than the edited one.
  const text = source === "" || source.endsWith("\n") ? source : source + "\n";
  const path = key.split(".");
  const statements = scan(text);
  if (statements.some((s) => s.kind === "array-table" && startsWith(path, s.path))) {
    throw new SyntaxError(`"${key}" would be inside an array of tables`);
  }
  const existing = statements.find((s) => s.kind === "assign" && same(s.path, path));
  if (existing) {
    return text.slice(0, existing.valueStart) + valueText(value) + text.slice(existing.valueEnd);
  }
  const parent = path.slice(0, -1);
  const assignment = (rel: string[], indent = "") =>
    `${indent}${keyText(rel)} = ${valueText(value)}`;
  // 1. The key's own table exists (or the key is top-level): append to that block.
  const own = parent.length
    ? statements.findIndex((s) => s.kind === "table" && same(s.path, parent))
    : -1;
  if (own >= 0 || parent.length === 0) {
    return insertLine(text, blockEnd(statements, own), assignment(path.slice(-1)));
  }
  // 2. A sibling is written as a dotted key (`bridge.keepalive_interval = ...` in [c8y]):
  //    a [c8y.bridge] header would then be invalid TOML, so write a dotted key beside it.
  const sibling = statements.findLast((s) =>
    s.kind === "assign" && s.relKey.length > 1 && startsWith(s.path, parent)
  );
  if (sibling) {
    const tableDepth = sibling.path.length - sibling.relKey.length;
    return insertLine(text, sibling.lineEnd, assignment(path.slice(tableDepth), sibling.indent));
  }
  // 3. A new table at the end of the document, after a blank line.
  const sep = text === "" || text.endsWith("\n\n") ? "" : "\n";
  return `${text}${sep}[${keyText(parent)}]\n${assignment(path.slice(-1))}\n`;
}

/** `text` without the assignment of `key` (unchanged when the key is absent). */
export function unsetTomlKey(text: string, key: string): string {
  const path = key.split(".");
  const existing = scan(text).find((s) => s.kind === "assign" && same(s.path, path));
  if (!existing) return text;
  return text.slice(0, existing.lineStart) + text.slice(existing.lineEnd);
}
