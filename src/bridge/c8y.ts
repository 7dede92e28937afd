/**
 * The Cumulocity profile of the bridge (COMPAT.md section 3): the built-in rules, the service
 * messages on `s/us` and the names thin-edge uses, so that a device sees the same topics and
 * health messages as with thin-edge's own bridge.
 */
import { BridgeRule } from "./rules.ts";
import { hasWildcard } from "./topic.ts";

/** Cloud topics forwarded cloud -> local (plus `s/dc/<template>` per SmartREST template). */
export const C8Y_INBOUND_TOPICS: readonly string[] = [
  "s/dt",
  "s/ds",
  "s/e",
  "devicecontrol/notifications",
  "error",
  "s/dat",
];

/** Cloud topics forwarded local -> cloud. */
export const C8Y_OUTBOUND_TOPICS: readonly string[] = [
  "s/ut/#",
  "s/us/#",
  "t/us/#",
  "q/us/#",
  "c/us/#",
  "s/uc/#",
  "t/uc/#",
  "q/uc/#",
  "c/uc/#",
  "s/uat",
  "inventory/managedObjects/update/#",
  "measurement/measurements/create/#",
  "measurement/measurements/createBulk/#",
  "event/events/create/#",
  "event/events/createBulk/#",
  "alarm/alarms/create/#",
  "alarm/alarms/createBulk/#",
];

/**
 * Checks `c8y.bridge.topic_prefix`: not empty, no wildcard, no `/` at either end (thin-edge
 * appends the `/` itself). Returns the prefix.
 */
export function checkTopicPrefix(prefix: string): string {
  if (prefix === "" || hasWildcard(prefix) || prefix.startsWith("/") || prefix.endsWith("/")) {
    throw new RangeError(
      `Invalid bridge topic prefix "${prefix}": it must be non-empty, without "+", "#" or a ` +
        `leading or trailing "/"`,
    );
  }
  return prefix;
}

/** The built-in Cumulocity rules: local `<prefix>/<topic>` <-> cloud `<topic>`. */
export function c8yRules(prefix = "c8y", templates: readonly string[] = []): BridgeRule[] {
  const local = `${checkTopicPrefix(prefix)}/`;
  return [
    ...templates.map((t) => BridgeRule.of(`s/dc/${t}`, "inbound", local)),
    ...C8Y_INBOUND_TOPICS.map((t) => BridgeRule.of(t, "inbound", local)),
    ...C8Y_OUTBOUND_TOPICS.map((t) => BridgeRule.of(t, "outbound", local)),
  ];
}

/** The bridge's service name: `tedge-mapper-bridge-<prefix>`, also the local client id. */
export function bridgeServiceName(prefix = "c8y"): string {
  return `tedge-mapper-bridge-${prefix}`;
}

/**
 * The health topic of a service of the main device:
 * `<root>/device/main/service/<name>/status/health` for root `te` and device `device/main//`.
 */
export function serviceHealthTopic(
  serviceName: string,
  { topicRoot = "te", deviceTopicId = "device/main//" } = {},
): string {
  const [kind, id] = deviceTopicId.split("/");
  if (!kind || !id) {
    throw new RangeError(
      `Invalid device topic id "${deviceTopicId}": expected "device/<name>//"`,
    );
  }
  return `${topicRoot}/${kind}/${id}/service/${serviceName}/status/health`;
}

/** The health payload thin-edge publishes: `{"status":"up"}` / `{"status":"down"}`. */
export function healthPayload(up: boolean): string {
  return JSON.stringify({ status: up ? "up" : "down" });
}

/**
 * The SmartREST 102 service message on `s/us`:
 * `102,<device id>:device:main:service:tedge-mapper-<prefix>,<service type>,tedge-mapper-<prefix>,<status>`.
 */
export function c8yServiceMessage(
  deviceId: string,
  status: "up" | "down",
  { prefix = "c8y", serviceType = "service" } = {},
): string {
  const service = `tedge-mapper-${prefix}`;
  return `102,${deviceId}:device:main:service:${service},${serviceType},${service},${status}`;
}

/** The cloud topic the 102 service messages go to. */
export const C8Y_SERVICE_TOPIC = "s/us";
