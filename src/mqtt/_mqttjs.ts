/**
 * The one place that relies on mqtt.js internals beyond its documented API (mqtt 5.16.0,
 * pinned in deno.json; the bridge tests cover each of these).
 */
import type { MqttClient } from "mqtt";

type Callback = (error?: Error) => void;

interface ClientInternals {
  outgoingStore: { put(packet: unknown, cb?: Callback): unknown };
  _storeAndSend?: (packet: unknown, cb: Callback | undefined, cbStorePut: () => void) => void;
  _writePacket?: (packet: unknown, cb?: Callback) => void;
}

/**
 * Keeps outgoing QoS 1 PUBLISHes in mqtt.js's in-flight store as they are, not as deep
 * copies. mqtt.js copies each one (rfdc, payload included) so that a topic alias applied to
 * the packet it sends cannot change the stored one; we never use topic aliases. The copy was
 * 6% of the bridge's CPU time and, at 4 KiB, half of what it allocated per message. The
 * store itself stays: mqtt.js looks the message up there when its PUBACK arrives.
 *
 * Without the internals this expects (another mqtt.js version), nothing changes.
 */
export function storeWithoutCopy(client: MqttClient): void {
  const c = client as unknown as ClientInternals;
  const write = c._writePacket;
  if (typeof c._storeAndSend !== "function" || typeof write !== "function") return;
  c._storeAndSend = (packet, cb, cbStorePut) => {
    // mqtt.js's Store.put is synchronous and never fails.
    c.outgoingStore.put(packet);
    cbStorePut();
    write.call(c, packet, cb);
  };
}
