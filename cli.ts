/**
 * hsm-bridge: thin-edge.io's Cumulocity bridge with the device key on a PKCS#11 token.
 * Entry for `deno run` and `deno compile`; everything else is in src/cli.
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, { env: Deno.env.toObject() }));
}
