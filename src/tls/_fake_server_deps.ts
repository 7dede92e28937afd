/** Test-only: what _fake_server.ts needs from the message codecs and the codec. */
export * from "./messages/mod.ts";
export { Reader } from "./codec.ts";
