/**
 * thin-edge 2.x bridge rule files (`<config dir>/mappers/c8y/bridge/*.toml`):
 *
 * ```toml
 * local_prefix = "${config.c8y.bridge.topic_prefix}/"
 * remote_prefix = ""
 *
 * [[rule]]
 * topic = "s/us/#"
 * direction = "outbound"          # inbound | outbound | bidirectional
 *
 * [[template_rule]]               # one rule per item of `for`
 * for = "${config.c8y.smartrest.templates}"
 * topic = "s/dc/${item}"
 * direction = "inbound"
 * ```
 *
 * Supported beyond plain rules, because thin-edge ships its defaults this way: `${config.KEY}`
 * in prefixes, topics and `for`; `${item}` / `${@for}` in a template rule's topic; `if` on the
 * file or a rule with `${config.KEY}`, `!${config.KEY}`, `auth_method(certificate)` or
 * `${connection.auth_method} == 'certificate'`. A file with any error is refused as a whole:
 * the error names the file, the rule and the reason, and carries exit code 78.
 */
import { parse as parseToml, TomlError } from "smol-toml";
import { BridgeRule, type RawRule } from "./rules.ts";

/** What `${config.KEY}` and `auth_method(...)` read. */
export interface RuleFileContext {
  /** The value of a tedge.toml key (its default when unset), or undefined when it has none. */
  config(key: string): unknown;
  /** How the bridge authenticates to the cloud. Default "certificate". */
  authMethod?: "certificate" | "password";
}

/** A rule file that cannot be used; `rule` is e.g. "rule 3" or "template_rule 1". */
export class RuleFileError extends Error {
  readonly kind = "configuration";

  constructor(
    readonly file: string,
    readonly rule: string | undefined,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`Invalid bridge rule file "${file}": ${rule ? `${rule}: ` : ""}${reason}`, options);
    this.name = "RuleFileError";
  }
}

const FILE_KEYS = new Set(["local_prefix", "remote_prefix", "rule", "template_rule", "if"]);
const RULE_KEYS = new Set(["topic", "direction", "local_prefix", "remote_prefix", "if"]);
const TEMPLATE_KEYS = new Set([...RULE_KEYS, "for"]);

type Table = Record<string, unknown>;

/** Parses one rule file's text; `file` is only used in error messages. */
export function parseRuleFile(text: string, file: string, ctx: RuleFileContext): BridgeRule[] {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0];
      throw new RuleFileError(file, undefined, `line ${e.line}, column ${e.column}: ${first}`, {
        cause: e,
      });
    }
    throw e;
  }
  const fail = (where: string | undefined, e: unknown): never => {
    if (e instanceof RuleFileError) throw e;
    throw new RuleFileError(file, where, (e as Error).message, { cause: e });
  };
  let defaults: RawRule = {};
  try {
    checkKeys(doc, FILE_KEYS, "the file");
    if (doc.if !== undefined && !condition(doc.if, ctx)) return [];
    defaults = {
      local_prefix: expandOptional(doc.local_prefix, ctx, "local_prefix"),
      remote_prefix: expandOptional(doc.remote_prefix, ctx, "remote_prefix"),
    };
  } catch (e) {
    fail(undefined, e);
  }
  const rules: BridgeRule[] = [];
  tables(doc.rule, "rule", file).forEach((raw, i) => {
    try {
      checkKeys(raw, RULE_KEYS, "a rule");
      if (raw.if !== undefined && !condition(raw.if, ctx)) return;
      rules.push(BridgeRule.parse(expandRule(raw, ctx, undefined), defaults));
    } catch (e) {
      fail(`rule ${i + 1}`, e);
    }
  });
  tables(doc.template_rule, "template_rule", file).forEach((raw, i) => {
    try {
      checkKeys(raw, TEMPLATE_KEYS, "a template rule");
      if (raw.for === undefined) throw new RangeError(`"for" is missing`);
      if (raw.if !== undefined && !condition(raw.if, ctx)) return;
      const items = forItems(raw.for, ctx);
      for (const item of items) {
        rules.push(BridgeRule.parse(expandRule(raw, ctx, item), defaults));
      }
    } catch (e) {
      fail(`template_rule ${i + 1}`, e);
    }
  });
  return rules;
}

/**
 * Reads every `*.toml` file of `dir` in name order; a missing directory gives no rules. Throws
 * a RuleFileError for the first file that cannot be read or parsed.
 */
export async function loadRuleDir(dir: string, ctx: RuleFileContext): Promise<BridgeRule[]> {
  let names: string[];
  try {
    names = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".toml") && !entry.isDirectory) names.push(entry.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new RuleFileError(dir, undefined, `cannot list the directory: ${(e as Error).message}`);
  }
  const rules: BridgeRule[] = [];
  for (const name of names.sort()) {
    const path = `${dir.replace(/\/+$/, "")}/${name}`;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new RuleFileError(path, undefined, `cannot read it: ${(e as Error).message}`);
    }
    rules.push(...parseRuleFile(text, path, ctx));
  }
  return rules;
}

function tables(value: unknown, name: string, file: string): Table[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "object" || Array.isArray(v))) {
    throw new RuleFileError(file, undefined, `"${name}" must be an array of tables ([[${name}]])`);
  }
  return value as Table[];
}

function checkKeys(table: Table, allowed: Set<string>, what: string): void {
  for (const key of Object.keys(table)) {
    if (!allowed.has(key)) {
      throw new RangeError(
        `unknown key "${key}" in ${what} (expected ${[...allowed].join(", ")})`,
      );
    }
  }
}

function expandRule(raw: Table, ctx: RuleFileContext, item: string | undefined): RawRule {
  return {
    topic: typeof raw.topic === "string" ? expand(raw.topic, ctx, "topic", item) : raw.topic,
    direction: raw.direction,
    local_prefix: expandOptional(raw.local_prefix, ctx, "local_prefix"),
    remote_prefix: expandOptional(raw.remote_prefix, ctx, "remote_prefix"),
  };
}

function expandOptional(value: unknown, ctx: RuleFileContext, field: string): unknown {
  return typeof value === "string" ? expand(value, ctx, field, undefined) : value;
}

const VARIABLE = /\$\{([^}]*)\}/g;

/** Replaces `${config.KEY}` (and `${item}` / `${@for}` inside a template rule). */
function expand(text: string, ctx: RuleFileContext, field: string, item?: string): string {
  return text.replace(VARIABLE, (_, name: string) => {
    const v = name.trim();
    if (v === "item" || v === "@for") {
      if (item === undefined) {
        throw new RangeError(`"${field}" uses \${${v}} outside a template_rule`);
      }
      return item;
    }
    if (v.startsWith("config.")) return scalar(configValue(v.slice(7), ctx), v);
    throw new RangeError(`"${field}" uses an unknown variable \${${v}}`);
  });
}

function configValue(key: string, ctx: RuleFileContext): unknown {
  const value = ctx.config(key);
  if (value === undefined || value === null) {
    throw new RangeError(`\${config.${key}} refers to a setting that is not set`);
  }
  return value;
}

function scalar(value: unknown, name: string): string {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  throw new RangeError(`\${${name}} is a list, not a single value`);
}

/** The items of a template rule's `for`: an array of strings or `${config.KEY}` of a list. */
function forItems(value: unknown, ctx: RuleFileContext): string[] {
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) return value;
    throw new TypeError(`"for" must be an array of strings`);
  }
  if (typeof value === "string") {
    const m = /^\s*\$\{\s*config\.([^}\s]+)\s*\}\s*$/.exec(value);
    if (!m) throw new RangeError(`"for" must be an array or "\${config.KEY}", got "${value}"`);
    // A list setting that is unset (or unknown to hsm-bridge, such as thin-edge's
    // c8y.smartrest1.templates) expands to no rules, as an empty list does in thin-edge.
    const list = ctx.config(m[1]) ?? [];
    if (Array.isArray(list)) return list.map(String).filter((s) => s !== "");
    if (typeof list === "string") return list.split(",").map((s) => s.trim()).filter(Boolean);
    throw new RangeError(`\${config.${m[1]}} is not a list`);
  }
  throw new TypeError(`"for" must be an array or a string`);
}

/** Evaluates an `if` condition (the forms listed at the top of this file). */
function condition(value: unknown, ctx: RuleFileContext): boolean {
  if (typeof value !== "string") throw new TypeError(`"if" must be a string`);
  const text = value.trim();
  const auth = ctx.authMethod ?? "certificate";
  let m = /^auth_method\(\s*(certificate|password)\s*\)$/.exec(text);
  if (m) return m[1] === auth;
  m = /^\$\{\s*connection\.auth_method\s*\}\s*(==|!=)\s*'(certificate|password)'$/.exec(text);
  if (m) return (m[2] === auth) === (m[1] === "==");
  m = /^(!?)\s*\$\{\s*config\.([^}\s]+)\s*\}$/.exec(text);
  if (m) {
    // Unset (or unknown to hsm-bridge, such as c8y.mqtt_service.enabled) counts as false.
    const v = ctx.config(m[2]) ?? false;
    if (typeof v !== "boolean" && v !== "true" && v !== "false") {
      throw new RangeError(`"if" needs a true/false setting, \${config.${m[2]}} is "${v}"`);
    }
    return (v === true || v === "true") !== (m[1] === "!");
  }
  throw new RangeError(`"if" condition "${text}" is not supported`);
}
