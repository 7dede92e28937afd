/** Documentation generated from code must match the code. */
import assert from "node:assert/strict";
import { ERROR_KINDS } from "../src/errors.ts";
import { configReference } from "../tools/config_reference.ts";

const root = new URL("../", import.meta.url).pathname;

async function formatted(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    cwd: root,
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(markdown));
  await w.close();
  return new TextDecoder().decode((await child.output()).stdout);
}

Deno.test("docs/configuration.md is what the config schema generates", async () => {
  const onDisk = await Deno.readTextFile(`${root}docs/configuration.md`);
  assert.equal(
    onDisk,
    await formatted(configReference()),
    "docs/configuration.md is stale: run `deno run -A tools/config_reference.ts && deno fmt docs`",
  );
});

Deno.test("every message in docs/troubleshooting.md is one the code can print", async () => {
  const doc = await Deno.readTextFile(`${root}docs/troubleshooting.md`);
  const headings = [...doc.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
  assert.ok(headings.length >= 40, `only ${headings.length} entries`);
  const sources: string[] = [];
  for await (const file of walkTs(`${root}src`)) sources.push(await Deno.readTextFile(file));
  // Long messages are written as "..." + "..." over several lines: join the pieces.
  const code = sources.join("\n").replace(/["`]\s*\+\s*\n\s*["`]/g, "");
  for (const heading of headings) {
    for (const message of [...heading.matchAll(/`([^`]+)`/g)].map((m) => m[1])) {
      // The fixed parts of the message (between the variable parts written …) must be in src/.
      const fragments = message.split("…").map((f) =>
        f.replace(/^[\s"'():;,.?]+|[\s"'():;,.?]+$/g, "")
      );
      for (const fragment of fragments.filter((f) => f.length >= 8)) {
        assert.ok(code.includes(fragment), `"${fragment}" (from "${heading}") is not in src/`);
      }
    }
  }
});

/**
 * Runtime errors (exit 1) a user meets and needs explained: a lost token, a timeout, a refused
 * server certificate. The configuration, credential and usage errors are found in the code.
 */
const RUNTIME_ERROR_CLASSES = [
  "PinLockedError",
  "TokenNotFoundError",
  "SignTimeoutError",
  "TlsCheckError",
  "KeyCheckError",
  "Pkcs11Error",
  "CertificateError",
  "P11ConnectionError",
  "P11ServerError",
];

/**
 * The error classes of src/ that declare a kind of src/errors.ts (configuration, credential,
 * usage: exit 78 or 2), and every class extending one of them.
 */
async function classifiedErrorClasses(): Promise<string[]> {
  const kinds = ERROR_KINDS.join("|");
  const declares = new RegExp(`readonly kind(?:: ErrorKind)? = "(?:${kinds})"`);
  const parents = new Map<string, string | undefined>();
  const classified = new Set<string>();
  for await (const file of walkTs(`${root}src`)) {
    const code = await Deno.readTextFile(file);
    const starts = [
      ...code.matchAll(/^export class (\w+)(?: extends (\w+))?|^class (\w+)(?: extends (\w+))?/gm),
    ];
    starts.forEach((m, i) => {
      const name = m[1] ?? m[3];
      parents.set(name, m[2] ?? m[4]);
      const body = code.slice(m.index, starts[i + 1]?.index ?? code.length);
      if (declares.test(body)) classified.add(name);
    });
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, parent] of parents) {
      if (parent && classified.has(parent) && !classified.has(name)) {
        classified.add(name);
        grew = true;
      }
    }
  }
  return [...classified].sort();
}

Deno.test("the error classes of every kind are found in the code", async () => {
  const found = await classifiedErrorClasses();
  const expected = [
    "CertificateFileError",
    "ConfigError",
    "KeyConfigError",
    "KeyFileError",
    "KeyMismatchError",
    "KeyUriError",
    "PinError",
    "RuleFileError",
    "UnknownKeyError",
    "UsageError",
  ];
  for (const name of expected) {
    assert.ok(found.includes(name), `${name} not found among ${found.join(", ")}`);
  }
});

/** The text of a `new Class(...)` call starting at `open` (the parenthesis). */
function callText(code: string, open: number): string {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === "(") depth++;
    else if (code[i] === ")" && --depth === 0) return code.slice(open, i);
  }
  return code.slice(open);
}

/** The fixed parts (12+ characters) of the string literals in `text`, whitespace collapsed. */
function fixedParts(text: string): string[] {
  const literals = [...text.matchAll(/`((?:[^`\\]|\\.)*)`|"((?:[^"\\]|\\.)*)"/g)]
    .map((l) => l[1] ?? l[2]);
  return literals.flatMap((l) => l.split(/\$\{[^}]*\}/))
    .map((f) =>
      f.replace(/\\"/g, '"').replace(/\s+/g, " ").replace(/^[\s"'():;,.?}]+|[\s"'():;,.?]+$/g, "")
    )
    .filter((f) => f.length >= 12 && !f.includes("${") && !/^[a-z_]+$/.test(f));
}

Deno.test("docs/troubleshooting.md explains every configuration, credential and usage error", async () => {
  const doc = (await Deno.readTextFile(`${root}docs/troubleshooting.md`)).replace(/\s+/g, " ");
  const missing: string[] = [];
  const classes = [...await classifiedErrorClasses(), ...RUNTIME_ERROR_CLASSES];
  for await (const file of walkTs(`${root}src`)) {
    if (/\/testing\//.test(file)) continue;
    const code = (await Deno.readTextFile(file)).replace(/["`]\s*\+\s*\n\s*["`]/g, "");
    for (const m of code.matchAll(new RegExp(`new (${classes.join("|")})\\(`, "g"))) {
      const parts = fixedParts(callText(code, m.index! + m[0].length - 1));
      if (parts.length && !parts.some((p) => doc.includes(p))) {
        missing.push(
          `${file.slice(root.length)}: ${m[1]} "${parts.sort((a, b) => b.length - a.length)[0]}"`,
        );
      }
    }
  }
  assert.deepEqual(missing, [], "errors without an entry in docs/troubleshooting.md");
});

async function* walkTs(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walkTs(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield path;
  }
}
