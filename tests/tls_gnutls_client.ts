/**
 * Test client for tests/tls_gnutls_test.ts: runs inside gnutls-serv's network namespace (the
 * server binds every address, so it gets a namespace of its own), connects with our TLS client,
 * sends an HTTP request and prints one JSON line: the handshake info and the start of the
 * server's answer. Exit 0 on success; 1 with the error's class, alert and message otherwise.
 *
 *   deno run -A tests/tls_gnutls_client.ts PORT CA_PEM CHAIN_PEM KEY_PEM [SUITE_CODE]
 */
import { loadFileKey } from "../src/keys/mod.ts";
import { connectTls, TlsError } from "../src/tls/mod.ts";
import { decodePem, TrustStore } from "../src/x509/mod.ts";

const [port, caPath, chainPath, keyPath, suite] = Deno.args;
const key = await loadFileKey(keyPath);
try {
  const conn = await connectTls({
    hostname: "127.0.0.1",
    port: Number(port),
    serverName: "localhost",
    trustStore: await TrustStore.load(caPath),
    clientAuth: {
      certificateChain: decodePem(await Deno.readTextFile(chainPath)).map((b) => b.der),
      key,
    },
    cipherSuites: suite ? [Number(suite)] : undefined,
    handshakeTimeoutMs: 15_000,
    readTimeoutMs: 5_000,
  });
  await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  let answer = "";
  while (answer.length < 200) {
    const chunk = await conn.read();
    if (chunk === null) break;
    answer += new TextDecoder().decode(chunk);
  }
  await conn.close();
  const { serverChain, ...info } = conn.info;
  console.log(JSON.stringify({ ok: true, info, chain: serverChain.length, answer }));
} catch (e) {
  const err = e as Error;
  console.log(JSON.stringify({
    ok: false,
    name: err.name,
    alert: e instanceof TlsError ? e.alertToSend : undefined,
    message: err.message,
  }));
  Deno.exitCode = 1;
} finally {
  await key.close();
}
