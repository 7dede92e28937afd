import denoJson from "../../deno.json" with { type: "json" };

/** The version in deno.json, also shown by `hsm-bridge --version`. */
export const VERSION: string = denoJson.version;
