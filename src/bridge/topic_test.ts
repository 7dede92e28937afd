import assert from "node:assert/strict";
import { checkTopicFilter, checkTopicName, TopicFilter, topicMatches } from "./topic.ts";

// [filter, topic, matches] (MQTT 3.1.1 section 4.7 and its examples).
const MATCHES: [string, string, boolean][] = [
  ["s/us", "s/us", true],
  ["s/us", "s/us/x", false],
  ["s/us/#", "s/us", true], // "#" matches the parent level
  ["s/us/#", "s/us/child", true],
  ["s/us/#", "s/us/a/b/c", true],
  ["s/us/#", "s/usx", false],
  ["s/+", "s/us", true],
  ["s/+", "s/us/x", false],
  ["s/+", "s/", true], // an empty level is a level
  ["+/+", "/finance", true],
  ["/+", "/finance", true],
  ["+", "/finance", false],
  ["#", "a/b", true],
  ["#", "$SYS/broker/uptime", false], // "$" topics are not matched by leading wildcards
  ["+/broker/uptime", "$SYS/broker/uptime", false],
  ["$SYS/#", "$SYS/broker/uptime", true],
  ["$SYS/+/uptime", "$SYS/broker/uptime", true],
  ["c8y/s/us/#", "c8y/s/us", true],
  ["c8y/s/us/#", "c8y/s/ds", false],
  ["a/+/c", "a/b/c", true],
  ["a/+/c", "a/b/d", false],
  ["a/b", "A/b", false], // case matters
];

for (const [filter, topic, expected] of MATCHES) {
  Deno.test(`TopicFilter.matches() "${filter}" vs "${topic}" is ${expected}`, () => {
    assert.equal(new TopicFilter(filter).matches(topic), expected);
    assert.equal(topicMatches(filter, topic), expected);
  });
}

const BAD_FILTERS: [string, RegExp][] = [
  ["", /empty/],
  ["a/#/b", /"#" must be the whole last level/],
  ["a#", /"#" must be the whole last level/],
  ["a/b+", /"\+" must be a whole level/],
  ["a\u0000b", /NUL/],
];

for (const [filter, message] of BAD_FILTERS) {
  Deno.test(`checkTopicFilter() rejects ${JSON.stringify(filter)}`, () => {
    assert.throws(() => checkTopicFilter(filter), message);
  });
}

Deno.test("checkTopicName() rejects wildcards and accepts plain topics", () => {
  assert.throws(() => checkTopicName("a/+"), /wildcard/);
  assert.throws(() => checkTopicName("a/#"), /wildcard/);
  assert.throws(() => checkTopicName(""), /empty/);
  checkTopicName("c8y/s/us");
  checkTopicName("$SYS/x");
});

Deno.test("checkTopicFilter() rejects a filter longer than 65535 bytes", () => {
  assert.throws(() => checkTopicFilter("é".repeat(40_000)), /longer than 65535 bytes/);
  checkTopicFilter("a".repeat(65_535));
});
