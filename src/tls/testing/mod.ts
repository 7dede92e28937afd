/**
 * Test hooks for the TLS client, kept out of the product's door (../mod.ts): scripted fake TLS
 * 1.3 and TLS 1.2 servers, in-memory transports, a test signing key, fixed randomness and the
 * RFC 8448 traces. Only tests and benchmarks import this.
 */
export { fakeClientConfig, FakeServer, type FakeServerOptions } from "./fake_server.ts";
export { FakeTls12Server, type FakeTls12ServerOptions, offeredSchemes } from "./fake_server12.ts";
export { pipePair, ScriptedTransport } from "./test_transport.ts";
export { testSigningKey } from "./test_keys.ts";
export { rfc8448, type Rfc8448Section, splitHandshakeMessages } from "./rfc8448_vectors.ts";
export { fixedRandom } from "./fixed_random.ts";
