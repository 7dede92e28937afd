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
 * 2. mqtt-packet's `debug`: required once, when mqtt-packet loads (_quiet_debug.ts silences it
 *    through the CommonJS module cache).
 * 3. `ErrorWithReasonCode` (exported by mqtt): a CONNACK refusal arrives as one, with the
 *    return / reason code in `code` (connection.ts classifies by it).
 * 4. The `writeCache: false` option (connection.ts) keeps mqtt-packet from building its cache of
 *    65,536 two-byte Buffers (`numbers.cache`, 6.8 MB of heap) on the first packet it writes.
 * 5. The `messageIdProvider` option: mqtt.js takes its SUBSCRIBE and UNSUBSCRIBE identifiers
 *    from our allocator (outbound.ts), which our own PUBLISHes use too, and gives them back on
 *    SUBACK / UNSUBACK.
 */
