/**
 * The bridge between the local broker and the cloud: rules as data, topic matching, the two
 * half bridges with at-least-once delivery, health, backoff and the Cumulocity profile.
 */
export { Backoff, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
export {
  Bridge,
  type BridgeOptions,
  type BridgeStats,
  type CloudSideOptions,
  type LocalSideOptions,
} from "./bridge.ts";
export {
  bridgeServiceName,
  C8Y_INBOUND_TOPICS,
  C8Y_OUTBOUND_TOPICS,
  C8Y_SERVICE_TOPIC,
  c8yProfile,
  type C8yProfileOptions,
  c8yRules,
  c8yServiceMessage,
  checkTopicPrefix,
  type CloudProfile,
  type ServiceMessage,
} from "./c8y.ts";
export { HalfBridge, type HalfBridgeOptions } from "./half_bridge.ts";
export { healthDownPayload, healthPayload, serviceHealthTopic } from "./health.ts";
export { LoopBreaker } from "./loop_breaker.ts";
export { ConnectBlockedError } from "./side.ts";
export { loadRuleDir, parseRuleFile, type RuleFileContext, RuleFileError } from "./rule_file.ts";
export { BridgeRule, BridgeRules, type Direction, DIRECTIONS, type Route } from "./rules.ts";
export { checkTopicFilter, checkTopicName, TopicFilter, topicMatches } from "./topic.ts";
