/**
 * hsm-bridge as a library: each area's public surface (its mod.ts), nothing else.
 */
export * from "./src/bridge/mod.ts";
export * from "./src/config/mod.ts";
export * from "./src/keys/mod.ts";
export * from "./src/mqtt/mod.ts";
export * from "./src/tls/mod.ts";
export * from "./src/x509/mod.ts";
export { getLogger, type LogLevel, parseLogLevel, setLogLevel } from "./src/log.ts";
