/**
 * thin-edge's service health convention: a retained JSON status on the service's health
 * topic, `{"status":"up"}` or `{"status":"down"}`, the latter also as the last will.
 */

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
 * A down status that says why, when the reason is the device's to fix or wait out rather than
 * a network outage: `{"status":"down","reason":"PIN locked for token ..."}`. thin-edge's
 * consumers read `status` only.
 */
export function healthDownPayload(reason: string): string {
  return JSON.stringify({ status: "down", reason });
}
