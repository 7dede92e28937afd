/**
 * MQTT topic names and topic filters: syntax checks and matching (MQTT 3.1.1 section 4.7,
 * MQTT 5.0 section 4.7). Pure functions.
 */

/** Largest topic in bytes: a UTF-8 string with a two-byte length (MQTT 3.1.1 section 1.5.3). */
const MAX_TOPIC_BYTES = 65_535;

const encoder = new TextEncoder();

function checkCommon(kind: string, value: string): void {
  if (value.length === 0) throw new RangeError(`Invalid MQTT ${kind} "": it is empty`);
  if (value.includes("\u0000")) {
    throw new RangeError(`Invalid MQTT ${kind} ${JSON.stringify(value)}: it contains NUL`);
  }
  if (value.length * 3 > MAX_TOPIC_BYTES && encoder.encode(value).length > MAX_TOPIC_BYTES) {
    throw new RangeError(`Invalid MQTT ${kind}: longer than ${MAX_TOPIC_BYTES} bytes`);
  }
}

/**
 * Checks a topic filter: `#` only as the whole last level, `+` only as a whole level
 * (MQTT 3.1.1 section 4.7.1). Throws a RangeError naming the filter and the fault.
 */
export function checkTopicFilter(filter: string): void {
  checkCommon("topic filter", filter);
  const levels = filter.split("/");
  levels.forEach((level, i) => {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      throw new RangeError(
        `Invalid MQTT topic filter "${filter}": "#" must be the whole last level`,
      );
    }
    if (level.includes("+") && level !== "+") {
      throw new RangeError(`Invalid MQTT topic filter "${filter}": "+" must be a whole level`);
    }
  });
}

/** Checks a topic name (what a PUBLISH carries): no wildcards (MQTT 3.1.1 section 4.7.3). */
export function checkTopicName(topic: string): void {
  checkCommon("topic name", topic);
  if (topic.includes("+") || topic.includes("#")) {
    throw new RangeError(`Invalid MQTT topic name "${topic}": it contains a wildcard`);
  }
}

/** Whether the string has a `+` or `#` wildcard character. */
export function hasWildcard(value: string): boolean {
  return value.includes("+") || value.includes("#");
}

/**
 * A topic filter split into levels once, so that matching a message costs one split of the
 * topic and a walk over the levels.
 */
export class TopicFilter {
  readonly levels: readonly string[];
  /** Topics starting with `$` are not matched by a filter that starts with a wildcard. */
  readonly #leadingWildcard: boolean;

  constructor(readonly filter: string) {
    checkTopicFilter(filter);
    this.levels = filter.split("/");
    this.#leadingWildcard = filter.startsWith("+") || filter.startsWith("#");
  }

  /** Whether `topic` (a topic name) matches; `levels` is `topic.split("/")` when known. */
  matches(topic: string, levels: readonly string[] = topic.split("/")): boolean {
    // MQTT 3.1.1 section 4.7.2: "$SYS/..." and the like are not matched by "#" or "+/...".
    if (this.#leadingWildcard && topic.startsWith("$")) return false;
    const f = this.levels;
    for (let i = 0; i < f.length; i++) {
      const level = f[i];
      // "#" matches the parent level too: "a/#" matches "a" (section 4.7.1.2).
      if (level === "#") return true;
      if (i >= levels.length) return false;
      if (level !== "+" && level !== levels[i]) return false;
    }
    return levels.length === f.length;
  }

  toString(): string {
    return this.filter;
  }
}

/** Whether `topic` matches `filter` (both as strings; see `TopicFilter` for repeated use). */
export function topicMatches(filter: string, topic: string): boolean {
  return new TopicFilter(filter).matches(topic);
}
