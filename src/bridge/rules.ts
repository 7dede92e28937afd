/**
 * Bridge rules as data (thin-edge 2.x's configurable bridge): a rule forwards the topics
 * matching `topic` between `local_prefix + topic` on the local broker and
 * `remote_prefix + topic` on the cloud broker, in one or both directions.
 *
 *   local  c8y/s/us      ── outbound ──>  cloud  s/us        (local_prefix "c8y/", remote "")
 *   local  c8y/s/ds  <── inbound  ──      cloud  s/ds
 *
 * `BridgeRule.parse` returns a valid rule or throws; `BridgeRules` answers "where does this
 * message go" with the first matching rule, as thin-edge does.
 */
import { checkTopicFilter, hasWildcard, TopicFilter } from "./topic.ts";

export const DIRECTIONS = ["inbound", "outbound", "bidirectional"] as const;
/** `inbound` = cloud to local, `outbound` = local to cloud. */
export type Direction = typeof DIRECTIONS[number];

/** The fields of a `[[rule]]` table, as written in a rule file. */
export interface RawRule {
  topic?: unknown;
  direction?: unknown;
  local_prefix?: unknown;
  remote_prefix?: unknown;
}

function checkPrefix(name: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError(`"${name}" must be a string, got ${describe(value)}`);
  }
  if (hasWildcard(value)) {
    throw new RangeError(`"${name}" "${value}" must not contain "+" or "#"`);
  }
  if (value.includes("\u0000")) throw new RangeError(`"${name}" must not contain NUL`);
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}

export class BridgeRule {
  /** `localPrefix + topic`: what the bridge subscribes to locally for outbound rules. */
  readonly localFilter: TopicFilter;
  /** `remotePrefix + topic`: what the bridge subscribes to on the cloud for inbound rules. */
  readonly remoteFilter: TopicFilter;

  private constructor(
    readonly topic: string,
    readonly direction: Direction,
    readonly localPrefix: string,
    readonly remotePrefix: string,
  ) {
    this.localFilter = new TopicFilter(localPrefix + topic);
    this.remoteFilter = new TopicFilter(remotePrefix + topic);
  }

  /**
   * A rule from its raw fields; per-rule prefixes win over the file's `defaults`. Throws a
   * TypeError or RangeError whose message says which field is wrong and why.
   */
  static parse(
    raw: RawRule,
    defaults: { local_prefix?: unknown; remote_prefix?: unknown } = {},
  ): BridgeRule {
    const { topic, direction } = raw;
    if (typeof topic !== "string") {
      throw new TypeError(`"topic" must be a string, got ${describe(topic)}`);
    }
    if (topic === "") throw new RangeError(`"topic" must not be empty`);
    try {
      checkTopicFilter(topic);
    } catch (e) {
      throw new RangeError(
        `"topic" ${(e as Error).message.replace(/^Invalid /, "is an invalid ")}`,
      );
    }
    if (typeof direction !== "string" || !(DIRECTIONS as readonly string[]).includes(direction)) {
      throw new RangeError(
        `"direction" must be one of ${DIRECTIONS.join(", ")}, got ${describe(direction)}`,
      );
    }
    const local = raw.local_prefix ?? defaults.local_prefix;
    const remote = raw.remote_prefix ?? defaults.remote_prefix;
    if (local === undefined) throw new RangeError(`"local_prefix" is missing (rule or file)`);
    if (remote === undefined) throw new RangeError(`"remote_prefix" is missing (rule or file)`);
    return new BridgeRule(
      topic,
      direction as Direction,
      checkPrefix("local_prefix", local),
      checkPrefix("remote_prefix", remote),
    );
  }

  /** A rule from already-checked parts (the built-in defaults). */
  static of(
    topic: string,
    direction: Direction,
    localPrefix: string,
    remotePrefix = "",
  ): BridgeRule {
    return BridgeRule.parse({ topic, direction, local_prefix: localPrefix }, {
      remote_prefix: remotePrefix,
    });
  }

  /** Whether the rule forwards local messages to the cloud. */
  get outbound(): boolean {
    return this.direction !== "inbound";
  }

  /** Whether the rule forwards cloud messages to the local broker. */
  get inbound(): boolean {
    return this.direction !== "outbound";
  }

  /** The cloud topic for a local topic, or undefined when this rule does not apply. */
  toRemote(localTopic: string, levels?: readonly string[]): string | undefined {
    if (!this.outbound) return undefined;
    return swapPrefix(this.localFilter, this.localPrefix, this.remotePrefix, localTopic, levels);
  }

  /** The local topic for a cloud topic, or undefined when this rule does not apply. */
  toLocal(remoteTopic: string, levels?: readonly string[]): string | undefined {
    if (!this.inbound) return undefined;
    return swapPrefix(this.remoteFilter, this.remotePrefix, this.localPrefix, remoteTopic, levels);
  }

  /** Same topic, direction and prefixes. */
  equals(other: BridgeRule): boolean {
    return this.topic === other.topic && this.direction === other.direction &&
      this.localPrefix === other.localPrefix && this.remotePrefix === other.remotePrefix;
  }

  toString(): string {
    return `${this.direction} ${this.localPrefix}${this.topic} <-> ${this.remotePrefix}${this.topic}`;
  }
}

function swapPrefix(
  filter: TopicFilter,
  from: string,
  to: string,
  topic: string,
  levels: readonly string[] = topic.split("/"),
): string | undefined {
  // "c8y/mqtt/out/#" matches "c8y/mqtt/out" too (the parent level), but that topic does not
  // carry the prefix "c8y/mqtt/out/": such a message has no place on the other side.
  if (!topic.startsWith(from) || !filter.matches(topic, levels)) return undefined;
  const mapped = to + topic.slice(from.length);
  return mapped === "" ? undefined : mapped;
}

/** Where a message goes: the target topic and the rule that sent it there. */
export interface Route {
  readonly topic: string;
  readonly rule: BridgeRule;
}

/** How many topics to remember per direction; topics repeat a lot (one per measurement type). */
const ROUTE_CACHE_SIZE = 1024;

/** An ordered list of rules; the first matching rule wins. */
export class BridgeRules {
  readonly rules: readonly BridgeRule[];
  #toRemote = new Map<string, Route | null>();
  #toLocal = new Map<string, Route | null>();
  #echoes = new Map<string, boolean>();

  /** Rules in order; exact duplicates (same topic, direction, prefixes) are kept once. */
  constructor(rules: Iterable<BridgeRule>) {
    const kept: BridgeRule[] = [];
    for (const rule of rules) if (!kept.some((k) => k.equals(rule))) kept.push(rule);
    this.rules = kept;
  }

  /** Filters to subscribe to on the local broker (outbound and bidirectional rules). */
  localSubscriptions(): string[] {
    return unique(this.rules.filter((r) => r.outbound).map((r) => r.localFilter.filter));
  }

  /** Filters to subscribe to on the cloud broker (inbound and bidirectional rules). */
  remoteSubscriptions(): string[] {
    return unique(this.rules.filter((r) => r.inbound).map((r) => r.remoteFilter.filter));
  }

  /** The cloud route of a local message, or undefined when no rule matches. */
  routeToRemote(localTopic: string): Route | undefined {
    const hit = this.#toRemote.get(localTopic); // first: no closure per message
    if (hit !== undefined) return hit ?? undefined;
    return cached(this.#toRemote, localTopic, (levels) => {
      for (const rule of this.rules) {
        const topic = rule.toRemote(localTopic, levels);
        if (topic !== undefined) return { topic, rule };
      }
    });
  }

  /** The local route of a cloud message, or undefined when no rule matches. */
  routeToLocal(remoteTopic: string): Route | undefined {
    const hit = this.#toLocal.get(remoteTopic);
    if (hit !== undefined) return hit ?? undefined;
    return cached(this.#toLocal, remoteTopic, (levels) => {
      for (const rule of this.rules) {
        const topic = rule.toLocal(remoteTopic, levels);
        if (topic !== undefined) return { topic, rule };
      }
    });
  }

  /**
   * Whether a message the bridge publishes to the cloud on `remoteTopic` comes back to it
   * through its own cloud subscriptions (a bidirectional or overlapping inbound rule).
   */
  echoesFromRemote(remoteTopic: string): boolean {
    let echoes = this.#echoes.get(remoteTopic);
    if (echoes === undefined) {
      const levels = remoteTopic.split("/");
      echoes = this.rules.some((r) => r.inbound && r.remoteFilter.matches(remoteTopic, levels));
      if (this.#echoes.size >= ROUTE_CACHE_SIZE) this.#echoes.clear();
      this.#echoes.set(remoteTopic, echoes);
    }
    return echoes;
  }

  /** Whether a message the bridge publishes locally on `localTopic` comes back to it. */
  echoesFromLocal(localTopic: string): boolean {
    const levels = localTopic.split("/");
    return this.rules.some((r) => r.outbound && r.localFilter.matches(localTopic, levels));
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Finds and remembers a route the cache did not have. */
function cached(
  cache: Map<string, Route | null>,
  topic: string,
  find: (levels: string[]) => Route | undefined,
): Route | undefined {
  const route = find(topic.split("/"));
  if (cache.size >= ROUTE_CACHE_SIZE) cache.clear();
  cache.set(topic, route ?? null);
  return route;
}
