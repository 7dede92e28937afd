/**
 * hsm-bridge as a library: each area's public surface (its mod.ts), nothing else.
 */
export * from "./src/config/mod.ts";
export * from "./src/keys/mod.ts";
