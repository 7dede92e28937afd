/**
 * The one place that relies on mqtt.js internals beyond its documented API. mqtt is pinned in
 * deno.json (5.16.0); what src/mqtt relies on, each item with a test in
 * mqttjs_contract_test.ts that fails by name when an upgrade changes it:
 *
 * 1. The PUBACK hold (connection.ts): `client.handleMessage = (packet, callback)` replaced, and
 *    `callback(error)` for a QoS 1 PUBLISH sends no PUBACK and lets the next packet in. Our
 *    PUBACKs are then written as bytes into the same stream (acks.ts): mqtt.js's `_sendPacket`
 *    is not used. (Ordinary PUBLISHes never reach mqtt.js: inbound.ts decodes them; this is
 *    the path of the ones it leaves to mqtt.js.)
 * 2. `_storeAndSend(packet, cb, cbStorePut)`, `_writePacket(packet, cb)` and
 *    `outgoingStore.put(packet)` (storeWithoutCopy below): QoS 1 PUBLISHes stored uncopied, and
 *    still found in the store when their PUBACK arrives.
 * 3. mqtt-packet's `debug`: required once, when mqtt-packet loads (_quiet_debug.ts silences it
 *    through the CommonJS module cache).
 * 4. `ErrorWithReasonCode` (exported by mqtt): a CONNACK refusal and an MQTT 5 PUBACK refusal
 *    arrive as one, with the return / reason code in `code` (connection.ts classifies by it).
 * 5. The `writeCache: false` option (connection.ts) keeps mqtt-packet from building its cache of
 *    65,536 two-byte Buffers (`numbers.cache`, 6.8 MB of heap) on the first packet it writes.
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
 * copies; returns whether it could (false: this mqtt.js lacks the internals, nothing changed). mqtt.js copies each one (rfdc, payload included) so that a topic alias applied to
 * the packet it sends cannot change the stored one; we never use topic aliases. The copy was
 * 6% of the bridge's CPU time and, at 4 KiB, half of what it allocated per message. The
 * store itself stays: mqtt.js looks the message up there when its PUBACK arrives.
 *
 * Without the internals this expects (another mqtt.js version), nothing changes.
 */
export function storeWithoutCopy(client: MqttClient): boolean {
  const c = client as unknown as ClientInternals;
  const write = c._writePacket;
  if (typeof c._storeAndSend !== "function" || typeof write !== "function") return false;
  c._storeAndSend = (packet, cb, cbStorePut) => {
    // mqtt.js's Store.put is synchronous and never fails.
    c.outgoingStore.put(packet);
    cbStorePut();
    write.call(c, packet, cb);
  };
  return true;
}
