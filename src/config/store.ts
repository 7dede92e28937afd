/**
 * The only code that writes files. Config edits keep the rest of the file as it was
 * (see toml_edit.ts) and replace the file atomically:
 *
 * 1. write the new text to a temporary file in the same directory (same file system),
 * 2. give it the old file's mode and owner (0600 for a new file: it may hold a PIN),
 * 3. fsync it, rename it over the old file, fsync the directory.
 *
 * A failure at any step removes the temporary file and leaves the old file untouched.
 */
import { parse, TomlError } from "smol-toml";
import { ConfigError } from "./errors.ts";
import type { TomlValue } from "./parsers.ts";
import { setTomlKey, unsetTomlKey } from "./toml_edit.ts";

export type TomlTable = Record<string, unknown>;

/** Parses TOML, reporting a syntax error with file, line and column. */
export function parseToml(text: string, path: string): TomlTable {
  try {
    return parse(text) as TomlTable;
  } catch (e) {
    if (e instanceof TomlError) {
      const detail = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(
        `Cannot parse config file "${path}": line ${e.line}, column ${e.column}: ${detail}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** The file's text, or "" when it does not exist. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw new ConfigError(`Cannot read config file "${path}": ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Test seam: called with the temporary file's path after it is written, before the rename. */
export type BeforeRenameHook = (tempPath: string) => void | Promise<void>;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

/** Replaces `path` with `text` atomically (see the module comment). */
export async function writeFileAtomic(
  target: string,
  text: string,
  opts: { newFileMode?: number; beforeRename?: BeforeRenameHook } = {},
): Promise<void> {
  // A symlinked file (/etc/tedge/tedge.toml -> /data/tedge.toml) is updated where it lives;
  // renaming over the link would replace the link with a regular file.
  const path = await Deno.realPath(target).catch(() => target);
  const dir = dirOf(path);
  const old = await Deno.stat(path).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  });
  const name = path.slice(dir.length + 1);
  const temp = `${dir}/.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const mode = (old?.mode ?? opts.newFileMode ?? 0o600) & 0o7777;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode });
    const bytes = new TextEncoder().encode(text);
    for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
    await Deno.chmod(temp, mode); // the umask may have narrowed the mode given to open()
    if (old && old.uid !== null && old.gid !== null && Deno.uid() === 0) {
      await Deno.chown(temp, old.uid, old.gid);
    }
    await file.sync();
    file.close();
    file = undefined;
    await opts.beforeRename?.(temp);
    await Deno.rename(temp, path);
  } catch (e) {
    file?.close();
    await Deno.remove(temp).catch(() => {});
    throw new ConfigError(`Cannot write file "${path}": ${(e as Error).message}`, {
      cause: e,
    });
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is already done.
  }
}

/** The value at a dotted path of a parsed document, or undefined. */
export function lookupPath(table: TomlTable, path: string[]): unknown {
  let v: unknown = table;
  for (const p of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as TomlTable)[p];
  }
  return v;
}

/** A copy of `table` without the key at `path`, and without tables left empty by that. */
function withoutKey(table: TomlTable, path: string[]): TomlTable {
  const copy = structuredClone(table);
  for (let depth = path.length; depth > 0; depth--) {
    const parent = lookupPath(copy, path.slice(0, depth - 1)) as TomlTable | undefined;
    const name = path[depth - 1];
    if (!parent || typeof parent !== "object") break;
    const child = parent[name];
    const isEmptyTable = child !== null && typeof child === "object" && !Array.isArray(child) &&
      Object.keys(child).length === 0;
    if (depth === path.length || isEmptyTable) delete parent[name];
    else break;
  }
  return copy;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, sortedKeys) === JSON.stringify(b, sortedKeys);
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).sort(([x], [y]) => x.localeCompare(y)));
  }
  return value;
}

/**
 * Applies an edit to the file's text and checks the result before writing: it must parse, the
 * target key must hold the intended value, and nothing else may have changed.
 */
async function editFile(
  path: string,
  key: string,
  value: TomlValue | undefined,
  opts: { beforeRename?: BeforeRenameHook },
): Promise<void> {
  const before = await readConfigText(path);
  const oldTable = parseToml(before, path);
  const keyPath = key.split(".");
  let after: string;
  try {
    after = value === undefined ? unsetTomlKey(before, key) : setTomlKey(before, key, value);
  } catch (e) {
    throw new ConfigError(
      `Cannot edit "${key}" in "${path}" without rewriting the file: ${(e as Error).message}`,
      { key, cause: e },
    );
  }
  if (after === before) {
    // Nothing to change is fine for an absent key; a key that is there but was not found by the
    // line editor (inside an inline table) must not be reported as removed.
    if (value !== undefined || lookupPath(oldTable, keyPath) === undefined) return;
    throw new ConfigError(
      `Cannot edit "${key}" in "${path}" safely: the file's layout is unusual there; ` +
        `edit it by hand`,
      { key },
    );
  }
  let newTable: TomlTable | undefined;
  try {
    newTable = parse(after) as TomlTable;
  } catch { /* reported below */ }
  const ok = newTable !== undefined &&
    deepEqual(lookupPath(newTable, keyPath), value) &&
    deepEqual(withoutKey(newTable, keyPath), withoutKey(oldTable, keyPath));
  if (!ok) {
    throw new ConfigError(
      `Cannot edit "${key}" in "${path}" safely: the file's layout is unusual there; ` +
        `edit it by hand`,
      { key },
    );
  }
  await writeFileAtomic(path, after, opts);
}

export function setConfigValue(
  path: string,
  key: string,
  value: TomlValue,
  opts: { beforeRename?: BeforeRenameHook } = {},
): Promise<void> {
  return editFile(path, key, value, opts);
}

export function unsetConfigValue(
  path: string,
  key: string,
  opts: { beforeRename?: BeforeRenameHook } = {},
): Promise<void> {
  return editFile(path, key, undefined, opts);
}
