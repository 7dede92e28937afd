/**
 * `hsm-bridge p11-server`: a drop-in for thin-edge's tedge-p11-server. It owns the PKCS#11
 * module and answers tedge-p11-server's protocol on a Unix socket, for hsm-bridge or tedge in
 * socket mode (in a container, say).
 */
export { type Activation, activationFromEnv } from "./activation.ts";
export { listen, type Listener } from "./listener.ts";
export { ModuleService, type ModuleServiceOptions } from "./module_service.ts";
export { P11Server, type P11ServerOptions } from "./server.ts";
export { answer, type P11Service } from "./service.ts";
export { type RunningServer, type StartOptions, startP11Server } from "./start.ts";
