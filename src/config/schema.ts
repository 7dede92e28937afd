/**
 * Every tedge.toml key hsm-bridge reads, in one table: type, default, doc text and example.
 * The order here is the order of `config list`. COMPAT.md section 1 is the source of truth.
 */
import {
  absPath,
  anyPath,
  boolType,
  durationType,
  entityTopicIdType,
  enumType,
  hostPortType,
  hostType,
  nonEmptyString,
  pkcs11UriType,
  portType,
  positiveDurationType,
  secretType,
  sizeType,
  stringListType,
  tlsVersionType,
  topicLevelType,
  topicPrefixType,
  u32Type,
  type ValueType,
} from "./parsers.ts";

export type CryptokiMode = "off" | "module" | "socket";

/**
 * One key of the table. `K` is the key, `V` its typed value: both are inferred from each
 * `spec({...})` entry, and ConfigValues is derived from the table, so a key cannot be added to
 * the type and not the table, or the other way round (as thin-edge's define_tedge_config!).
 */
export interface KeySpec<K extends string = ConfigKey, V = ConfigValues[ConfigKey]> {
  readonly key: K;
  readonly type: ValueType<V>;
  readonly doc: string;
  readonly example: string;
  /** Default value as text (parsed with `type`), or a note on how the default is derived. */
  readonly default?: string;
  readonly derivedDefault?: string;
  /** PINs: masked by `config list` unless --show-secrets. */
  readonly secret?: boolean;
  /** Kept for configs written by the seed project; see COMPAT.md. */
  readonly legacy?: boolean;
  /** hsm-bridge's own key: thin-edge does not read it (and may warn that it does not know it). */
  readonly extension?: boolean;
}

function spec<const K extends string, V>(s: KeySpec<K, V>): KeySpec<K, V> {
  return s;
}

const TABLE = [
  spec({
    key: "device.id",
    type: nonEmptyString,
    doc: "Identifier of the device (MQTT client id towards the cloud). Read from the CN of " +
      "device.cert_path when the certificate can be read; this stored value is used otherwise.",
    example: "edge-0001",
    derivedDefault: "CN of device.cert_path",
  }),
  spec({
    key: "device.cert_path",
    type: absPath,
    doc: "Device certificate (PEM, leaf first, then any intermediates) presented to the cloud.",
    example: "/etc/tedge/device-certs/tedge-certificate.pem",
    default: "/etc/tedge/device-certs/tedge-certificate.pem",
  }),
  spec({
    key: "device.key_path",
    type: absPath,
    doc: "Device private key file (PEM). Ignored when device.cryptoki.mode is not off.",
    example: "/etc/tedge/device-certs/tedge-private-key.pem",
    default: "/etc/tedge/device-certs/tedge-private-key.pem",
  }),
  spec({
    key: "device.key_uri",
    type: pkcs11UriType,
    doc: "PKCS#11 URI (RFC 7512) of the device key on the token. Without object or id, the key " +
      "matching the device certificate is used.",
    example: "pkcs11:token=edge;object=device-key",
  }),
  spec({
    key: "device.key_pin",
    type: secretType,
    doc: "User PIN for device.key_uri; wins over device.cryptoki.pin. In socket mode it is " +
      "sent with each request (without it the server uses its own PIN).",
    example: "123456",
    secret: true,
  }),
  spec({
    key: "device.cryptoki.mode",
    type: enumType<CryptokiMode>(["off", "module", "socket"]),
    doc:
      "Where the device key lives: off = key file, module = PKCS#11 library loaded in-process, " +
      "socket = through tedge-p11-server or hsm-bridge p11-server (no module in hsm-bridge).",
    example: "module",
    default: "off",
  }),
  spec({
    key: "device.cryptoki.module_path",
    type: absPath,
    doc: "PKCS#11 library to load in module mode (and hsm-bridge p11-server's --module-path).",
    example: "/usr/lib/softhsm/libsofthsm2.so",
  }),
  spec({
    key: "device.cryptoki.pin",
    type: secretType,
    doc: "User PIN of the token (module mode, and hsm-bridge p11-server's --pin).",
    example: "123456",
    default: "123456",
    secret: true,
  }),
  spec({
    key: "device.cryptoki.uri",
    type: pkcs11UriType,
    doc: "Default key URI, used when device.key_uri is not set (module mode). For hsm-bridge " +
      "p11-server (--uri), a filter every request's URI is merged into.",
    example: "pkcs11:token=edge",
  }),
  spec({
    key: "device.cryptoki.socket_path",
    type: anyPath,
    doc: "Socket of tedge-p11-server in socket mode (hsm-bridge p11-server listens there).",
    example: "/run/tedge-p11-server/tedge-p11-server.sock",
    default: "/run/tedge-p11-server/tedge-p11-server.sock",
  }),
  spec({
    key: "device.cryptoki.enable",
    type: boolType,
    doc: "Legacy switch: true means mode = module, false means mode = off (mode wins when set).",
    example: "true",
    legacy: true,
  }),
  spec({
    key: "device.cryptoki.serial",
    type: nonEmptyString,
    doc: "Legacy: serial number of the token to use, same as serial= in the key URI.",
    example: "4762300fd98237c9",
    legacy: true,
  }),
  spec({
    key: "device.cryptoki.p11_kit_server_address",
    type: nonEmptyString,
    doc: "Address of a p11-kit server, set as P11_KIT_SERVER_ADDRESS before the module " +
      "(p11-kit-client.so) loads.",
    example: "unix:path=/run/p11-kit/pkcs11",
  }),
  spec({
    key: "c8y.url",
    type: hostType,
    doc: "Cumulocity tenant domain, without scheme.",
    example: "example.cumulocity.com",
  }),
  spec({
    key: "c8y.mqtt",
    type: hostPortType,
    doc: "Cumulocity MQTT endpoint.",
    example: "example.cumulocity.com:8883",
    derivedDefault: "c8y.url host, port 8883",
  }),
  spec({
    key: "c8y.root_cert_path",
    type: absPath,
    doc: "Trust store for the cloud connection: a PEM file, or a directory read recursively.",
    example: "/etc/ssl/certs",
    default: "/etc/ssl/certs",
  }),
  spec({
    key: "c8y.bridge.topic_prefix",
    type: topicPrefixType,
    doc: "Local topic prefix of the bridge: c8y/s/us locally is s/us in the cloud.",
    example: "c8y",
    default: "c8y",
  }),
  spec({
    key: "c8y.bridge.keepalive_interval",
    type: durationType,
    doc: "MQTT keepalive towards the cloud.",
    example: "60s",
    default: "60s",
  }),
  spec({
    key: "c8y.bridge.tls.min_version",
    type: tlsVersionType,
    doc: "Oldest TLS version accepted from the cloud broker: 1.2 offers TLS 1.3 and TLS 1.2 in " +
      "one handshake (1.3 preferred; TLS 1.2 only with ECDHE, AEAD ciphers and the extended " +
      "master secret, as rustls); 1.3 refuses brokers that stop at TLS 1.2.",
    example: "1.3",
    default: "1.2",
    extension: true,
  }),
  spec({
    key: "c8y.smartrest.templates",
    type: stringListType,
    doc: "SmartREST templates; each adds the cloud-to-device topic s/dc/<template>.",
    example: "template-1,template-2",
    default: "",
  }),
  spec({
    key: "c8y.mapper.mqtt.max_payload_size",
    type: u32Type,
    doc:
      "Largest message forwarded to the cloud, in bytes; larger ones are dropped with a warning.",
    example: "16184",
    default: "16184",
  }),
  spec({
    key: "c8y.bridge.outbox.enable",
    type: boolType,
    doc: "Store and forward: QoS 1 messages from the local broker are written to the outbox " +
      "and acknowledged locally once on disk, and sent to the cloud from there, so a cloud " +
      "outage loses none. With false, a local message is acknowledged when the cloud " +
      "acknowledged it, and the local broker's queue is the only buffer.",
    example: "true",
    default: "true",
    extension: true,
  }),
  spec({
    key: "c8y.bridge.outbox.dir",
    type: absPath,
    doc: "Directory of the outbox file (outbox.db, SQLite); created when absent. The service " +
      "user must be able to write it.",
    example: "/var/lib/tedge/hsm-bridge",
    default: "/var/lib/tedge/hsm-bridge",
    extension: true,
  }),
  spec({
    key: "c8y.bridge.outbox.max_size",
    type: sizeType,
    doc: "Size cap of the outbox: topics and payloads stored (7 bytes more a message; the " +
      "file adds SQLite's pages). When it is full, messages from the local broker are not " +
      "acknowledged (the broker keeps them, up to its max_queued_messages) until the cloud " +
      "takes some; nothing is dropped.",
    example: "64MB",
    default: "64MB",
    extension: true,
  }),
  spec({
    key: "c8y.bridge.outbox.max_age",
    type: positiveDurationType,
    doc: "Age cap of the outbox: messages stored longer than this are dropped with a " +
      "warning. Unset: kept until the cloud takes them.",
    example: "72h",
    extension: true,
  }),
  spec({
    key: "mqtt.client.host",
    type: hostType,
    doc: "Local MQTT broker host.",
    example: "127.0.0.1",
    default: "127.0.0.1",
  }),
  spec({
    key: "mqtt.client.port",
    type: portType,
    doc: "Local MQTT broker port.",
    example: "1883",
    default: "1883",
  }),
  spec({
    key: "mqtt.client.auth.ca_file",
    type: absPath,
    doc: "CA certificate for a TLS connection to the local broker.",
    example: "/etc/mosquitto/ca.pem",
  }),
  spec({
    key: "mqtt.client.auth.cert_file",
    type: absPath,
    doc: "Client certificate for the local broker.",
    example: "/etc/mosquitto/client.pem",
  }),
  spec({
    key: "mqtt.client.auth.key_file",
    type: absPath,
    doc: "Client key for the local broker.",
    example: "/etc/mosquitto/client.key",
  }),
  spec({
    key: "mqtt.client.auth.username",
    type: nonEmptyString,
    doc: "User name for the local broker.",
    example: "tedge",
  }),
  spec({
    key: "mqtt.client.auth.password_file",
    type: absPath,
    doc: "File holding the password for the local broker.",
    example: "/etc/tedge/mqtt-password",
  }),
  spec({
    key: "mqtt.bridge.built_in",
    type: boolType,
    doc: "thin-edge's built-in bridge switch; hsm-bridge warns when it is false (mosquitto's own " +
      "bridge may then forward the same topics twice).",
    example: "true",
    default: "true",
  }),
  spec({
    key: "mqtt.bridge.reconnect_policy.initial_interval",
    type: positiveDurationType,
    doc: "First reconnect delay; doubles per failed attempt (with +-50% jitter).",
    example: "5s",
    default: "5s",
  }),
  spec({
    key: "mqtt.bridge.reconnect_policy.maximum_interval",
    type: positiveDurationType,
    doc: "Longest reconnect delay.",
    example: "10m",
    default: "10m",
  }),
  spec({
    key: "mqtt.bridge.reconnect_policy.reset_window",
    type: durationType,
    doc: "Connection time after which the reconnect delay starts again from the initial interval.",
    example: "5m",
    default: "5m",
  }),
  spec({
    key: "service.type",
    type: nonEmptyString,
    doc: "Service type reported in the 102 service message.",
    example: "service",
    default: "service",
  }),
  spec({
    key: "mqtt.topic_root",
    type: topicLevelType,
    doc: "Root of the local thin-edge topic scheme (health messages).",
    example: "te",
    default: "te",
  }),
  spec({
    key: "mqtt.device_topic_id",
    type: entityTopicIdType,
    doc: "Topic id of this device in the thin-edge topic scheme.",
    example: "device/main//",
    default: "device/main//",
  }),
] as const;

/** The typed value of each key, derived from the table. Durations are milliseconds. */
export type ConfigValues = {
  [S in typeof TABLE[number] as S["key"]]: S extends KeySpec<string, infer V> ? V : never;
};

export type ConfigKey = keyof ConfigValues;

/** Every key, in the order of `config list`. */
export const SCHEMA: readonly KeySpec[] = TABLE;

const BY_KEY = new Map<string, KeySpec>(SCHEMA.map((s) => [s.key, s]));

export function keySpec(key: string): KeySpec | undefined {
  return BY_KEY.get(key);
}

/** `TEDGE_` + the key upper-cased with `.` as `_`: `TEDGE_C8Y_URL`. */
export function envName(key: string): string {
  return `TEDGE_${key.toUpperCase().replaceAll(".", "_")}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** Known keys closest to `key` (by edit distance, or sharing its last part), best first. */
export function suggestKeys(key: string, max = 3): string[] {
  const last = key.split(".").pop() ?? key;
  return SCHEMA
    .map((s) => ({ key: s.key, d: editDistance(key, s.key) }))
    .filter((s) => s.d <= Math.max(3, Math.floor(key.length / 4)) || s.key.endsWith(`.${last}`))
    .sort((a, b) => a.d - b.d)
    .slice(0, max)
    .map((s) => s.key);
}
