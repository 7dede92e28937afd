/**
 * The Cumulocity profile of the bridge (COMPAT.md section 3): the built-in rules, the service
 * messages on `s/us` and the names thin-edge uses, so that a device sees the same topics and
 * health messages as with thin-edge's own bridge.
 */
import { BridgeRule } from "./rules.ts";
import { hasWildcard } from "./topic.ts";
import { serviceHealthTopic } from "./health.ts";

/** The cloud topic the 102 service messages go to. */
export const C8Y_SERVICE_TOPIC = "s/us";

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

/** A message the bridge itself publishes (service messages, health). */
export interface ServiceMessage {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

export interface C8yProfileOptions {
  /** The device id: cloud client id and part of the 102 messages. */
  deviceId: string;
  /** `c8y.bridge.topic_prefix`. Default "c8y". */
  prefix?: string;
  /** `service.type`. Default "service". */
  serviceType?: string;
  /** `c8y.smartrest.templates`. */
  templates?: readonly string[];
  /** `mqtt.topic_root` and `mqtt.device_topic_id` (health topic). */
  topicRoot?: string;
  deviceTopicId?: string;
}

/** Everything Cumulocity-specific the bridge needs, from the device's settings. */
export interface CloudProfile {
  readonly rules: readonly BridgeRule[];
  readonly localClientId: string;
  readonly cloudClientId: string;
  readonly healthTopic: string;
  /** The cloud last will: `102,...,down` on `s/us`. */
  readonly cloudWill: ServiceMessage;
  /** Published on every cloud CONNACK (after the subscription gate): `102,...,up`. */
  readonly onCloudConnect: readonly ServiceMessage[];
  /** Published before a clean shutdown, when the last will does not fire: `102,...,down`. */
  readonly onCloudShutdown: readonly ServiceMessage[];
}

export function c8yProfile(opts: C8yProfileOptions): CloudProfile {
  const prefix = checkTopicPrefix(opts.prefix ?? "c8y");
  const service = { prefix, serviceType: opts.serviceType ?? "service" };
  const message = (status: "up" | "down"): ServiceMessage => ({
    topic: C8Y_SERVICE_TOPIC,
    payload: c8yServiceMessage(opts.deviceId, status, service),
    qos: 1,
    retain: false,
  });
  const localClientId = bridgeServiceName(prefix);
  return {
    rules: c8yRules(prefix, opts.templates ?? []),
    localClientId,
    cloudClientId: opts.deviceId,
    healthTopic: serviceHealthTopic(localClientId, {
      topicRoot: opts.topicRoot,
      deviceTopicId: opts.deviceTopicId,
    }),
    cloudWill: message("down"),
    onCloudConnect: [message("up")],
    onCloudShutdown: [message("down")],
  };
}
