/**
 * `deno task demo`: the end-to-end sandbox (token key, local and cloud brokers, the bridge).
 * It needs the bridge (`hsm-bridge run`), which is not built yet.
 */
console.log(
  "hsm-bridge demo: not available yet. It arrives with the bridge (`hsm-bridge run`);\n" +
    "until then try the config store: deno run -P=hsm-bridge cli.ts config list --doc",
);
