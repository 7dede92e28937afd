/** Source and target links for the half bridge's unit tests. */
import type { MqttPublishError } from "../mqtt/mod.ts";
import type { SourceLink, TargetLink } from "./links.ts";

export class FakeSource implements SourceLink {
  isOpen = true;
  acks: number[] = [];
  ack(id: number) {
    this.acks.push(id);
  }
}

export interface Sent {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  callback?: (e?: MqttPublishError) => void;
}

export class FakeTarget implements TargetLink {
  isOpen = true;
  sent: Sent[] = [];
  publish(
    topic: string,
    payload: Uint8Array,
    opts: { qos: 0 | 1; retain: boolean },
    callback?: (e?: MqttPublishError) => void,
  ) {
    this.sent.push({ topic, payload: new TextDecoder().decode(payload), ...opts, callback });
  }
  /** PUBACK for every message sent so far. */
  ackAll() {
    for (const s of this.sent.splice(0)) s.callback?.();
  }
}
