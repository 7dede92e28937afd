/** What a half bridge talks to: an MqttConnection fits both links. */
import type { MqttPublishError } from "../mqtt/mod.ts";

/** What a message came from: the connection that holds its PUBACK. */
export interface SourceLink {
  readonly isOpen: boolean;
  ack(messageId: number): void;
}

/** Where messages go. */
export interface TargetLink {
  readonly isOpen: boolean;
  publish(
    topic: string,
    payload: Uint8Array,
    opts: { qos: 0 | 1; retain: boolean },
    callback?: (error?: MqttPublishError) => void,
  ): void;
}

/** A message as received from the source. */
export interface SourceMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly messageId?: number;
}
