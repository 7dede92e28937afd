/**
 * MQTT clients for the bridge: mqtt.js v5 connections with manual acknowledgement, over any
 * byte transport (our TLS 1.3 client, Deno TLS, TCP) through a Duplex adapter. The only module
 * that imports npm:mqtt and node:stream.
 */
export {
  type ConnectFailure,
  type IncomingMessage,
  MqttConnectError,
  MqttConnection,
  type MqttConnectionOptions,
  MqttPublishError,
  type QoS,
  type Subscription,
  type Will,
} from "./connection.ts";
export { type TransportDuplex, transportDuplex } from "./duplex.ts";
export {
  type ByteTransport,
  connTransport,
  type DenoTlsOptions,
  denoTlsTransport,
  type TcpOptions,
  tcpTransport,
  TlsHandshakeError,
  TransportError,
  type TransportFactory,
} from "./transport.ts";
