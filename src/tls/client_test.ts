/**
 * The client against the in-memory fake server: negotiation, HelloRetryRequest, client
 * authentication, post-handshake messages, KeyUpdate both ways, write coalescing, close.
 */

import assert from "node:assert/strict";
import { exitCodeOf } from "../errors.ts";
import { concatBytes } from "./codec.ts";
import { startTlsWithConfig } from "./client.ts";
import {
  TlsAlertReceivedError,
  TlsClosedError,
  TlsLocalError,
  TlsPeerMisbehavedError,
  TlsTimeoutError,
} from "./errors.ts";
import type { HandshakeConfig } from "./handshake/mod.ts";
import { encodeNewSessionTicket } from "./messages/mod.ts";
import { ContentType } from "./record/mod.ts";
import { fakeClientConfig, FakeServer, type FakeServerOptions } from "./testing/mod.ts";
import { pipePair } from "./testing/mod.ts";
import { testSigningKey } from "./testing/mod.ts";

const te = new TextEncoder();
const td = new TextDecoder();

async function connect(opts: FakeServerOptions = {}, config: Partial<HandshakeConfig> = {}) {
  const [c, s] = pipePair();
  const server = new FakeServer(s, opts);
  const serverDone = server.handshake();
  serverDone.catch(() => {});
  const conn = await startTlsWithConfig(c, fakeClientConfig(config), { handshakeTimeoutMs: 5_000 });
  await serverDone;
  return { conn, server, c, s };
}

Deno.test("client negotiates each cipher suite with the fake server", async () => {
  for (const suite of [0x1301, 0x1302, 0x1303]) {
    const { conn, server } = await connect({ suite });
    assert.equal(conn.info.suiteCode, suite);
    await conn.write(te.encode("ping"));
    assert.equal(td.decode((await server.readAppData())!), "ping");
    await server.sendRecord(ContentType.application_data, te.encode("pong"));
    assert.equal(td.decode((await conn.read())!), "pong");
    await conn.close();
  }
});

Deno.test("client offers only an x25519 key share first and retries with the group the server asks for", async () => {
  for (const group of [0x0017, 0x0018]) {
    const { conn, server } = await connect({ groups: [group], cookie: new Uint8Array([1, 2, 3]) });
    const [ch1, ch2] = server.result.clientHellos;
    const shares = (ch: typeof ch1) =>
      ch.extensions.find((e) => e.type === 0x0033)!.data.subarray(2, 4);
    assert.deepEqual([...shares(ch1)], [0x00, 0x1d]);
    assert.deepEqual([...shares(ch2)], [0x00, group]);
    assert.deepEqual(ch2.random, ch1.random);
    assert.deepEqual(ch2.legacySessionId, ch1.legacySessionId);
    const cookie = ch2.extensions.find((e) => e.type === 0x002c)!;
    assert.deepEqual([...cookie.data], [0, 3, 1, 2, 3]);
    assert.equal(conn.info.hrr, true);
    assert.equal(conn.info.groupCode, group);
    await conn.close();
  }
});

Deno.test("client sends a random 32-byte legacy_session_id and tolerates the server's dummy CCS", async () => {
  const a = await connect({ ccsAfterHello: true });
  const b = await connect();
  const sidA = a.server.result.clientHellos[0].legacySessionId;
  const sidB = b.server.result.clientHellos[0].legacySessionId;
  assert.equal(sidA.length, 32);
  assert.notDeepEqual(sidA, sidB);
  await a.conn.close();
  await b.conn.close();
});

Deno.test("client completes a handshake whose server flight arrives one byte per record", async () => {
  const { conn } = await connect({ tamper: { recordSize: 1 } });
  assert.equal(conn.info.suite, "TLS_AES_128_GCM_SHA256");
  await conn.close();
});

Deno.test("client authenticates with each key type when the server asks", async () => {
  for (const kind of ["p256", "p384", "ed25519", "rsa2048"] as const) {
    const signed: Uint8Array[] = [];
    const key = await testSigningKey(kind, { onSign: (m) => signed.push(m) });
    const { conn, server } = await connect({ certificateRequest: true }, {
      clientAuth: { certificateChain: [key.publicKeySpki], key },
    });
    assert.equal(signed.length, 1);
    assert.equal(server.result.clientScheme, key.schemes[0]);
    assert.equal(conn.info.clientSignatureSchemeCode, key.schemes[0]);
    assert.equal(conn.info.clientCertificateRequested, true);
    await conn.close();
  }
});

Deno.test("client splits a certificate chain larger than one record across records", async () => {
  const key = await testSigningKey("p256");
  const filler = new Uint8Array(40_000).fill(0x30);
  const { conn, server } = await connect({ certificateRequest: true }, {
    clientAuth: { certificateChain: [key.publicKeySpki, filler], key },
  });
  assert.equal(server.result.clientCertificates?.length, 2);
  assert.deepEqual(server.result.clientCertificates![1], filler);
  await conn.close();
});

Deno.test("client sends an empty Certificate when asked but configured without a key", async () => {
  const { conn, server } = await connect({ certificateRequest: true });
  assert.deepEqual(server.result.clientCertificates, []);
  assert.equal(conn.info.clientSignatureScheme, undefined);
  await conn.close();
});

Deno.test("client sends an empty Certificate when its key can make no requested scheme (RFC 8446 4.4.2)", async () => {
  const key = await testSigningKey("p256");
  // The fake server offers ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256
  // and ed25519; a key that only does ecdsa_secp521r1_sha512 matches none.
  const only521 = { ...key, schemes: [0x0603], chooseScheme: () => undefined };
  const clientAuth = { certificateChain: [key.publicKeySpki], key: only521 };
  const lists =
    /server offers ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, rsa_pss_rsae_sha256, ed25519; key supports ecdsa_secp521r1_sha512$/;
  // A server for which the certificate is optional goes on without one.
  const optional = await connect({ certificateRequest: true }, { clientAuth });
  assert.deepEqual(optional.server.result.clientCertificates, []);
  assert.equal(optional.server.result.clientScheme, undefined);
  assert.equal(optional.conn.info.clientSignatureScheme, undefined);
  assert.match(optional.conn.info.clientCertificateWithheld!, lists);
  await optional.server.sendRecord(ContentType.application_data, te.encode("welcome"));
  assert.equal(td.decode((await optional.conn.read())!), "welcome");
  await optional.conn.close();
  // A server that requires one refuses after our Finished: the error names both scheme lists.
  const required = await connect({ certificateRequest: true }, { clientAuth });
  await required.server.sendRecord(ContentType.alert, new Uint8Array([2, 116])); // certificate_required
  await assert.rejects(required.conn.read(), (e: unknown) => {
    assert.ok(e instanceof TlsAlertReceivedError, String(e));
    assert.equal(e.received, "certificate_required");
    assert.match(
      e.message,
      /^Server sent alert "certificate_required" after the handshake: the server requires a client certificate; we sent no client certificate because the server accepts no signature scheme that .* can produce: /,
    );
    assert.match(e.message, lists);
    return true;
  });
  await required.conn.close();
});

Deno.test("client reports a failing signer as a local error and keeps its exit code", async () => {
  const [c, s] = pipePair();
  const server = new FakeServer(s, { certificateRequest: true });
  server.handshake().catch(() => {});
  const cause = Object.assign(new Error("token removed"), { kind: "credential" });
  const key = await testSigningKey("p256", { fail: cause });
  await assert.rejects(
    startTlsWithConfig(
      c,
      fakeClientConfig({
        clientAuth: { certificateChain: [key.publicKeySpki], key },
      }),
      {},
    ),
    (e: unknown) =>
      e instanceof TlsLocalError && exitCodeOf(e) === 78 && e.cause === cause &&
      /Signing the TLS handshake with key "test p256 key" failed: token removed/.test(e.message),
  );
  assert.equal(await server.readAlert(), "internal_error");
});

Deno.test("client drops NewSessionTicket and answers a requested KeyUpdate, rotating both ways", async () => {
  const { conn, server } = await connect();
  const nst = encodeNewSessionTicket({
    lifetime: 7200,
    ageAdd: 1,
    nonce: new Uint8Array([0]),
    ticket: new Uint8Array(32),
    extensions: [],
  });
  await server.sendRecord(ContentType.handshake, concatBytes(nst, nst));
  await server.sendKeyUpdate(true);
  await server.sendRecord(ContentType.application_data, te.encode("after update"));
  assert.equal(td.decode((await conn.read())!), "after update");
  await conn.write(te.encode("reply"));
  // The fake server counts our KeyUpdate and reads "reply" under the client's next keys.
  assert.equal(td.decode((await server.readAppData())!), "reply");
  assert.equal(server.result.keyUpdates, 1);
  // update_not_requested gets no answer, but our receiving keys still move on.
  await server.sendKeyUpdate(false);
  await server.sendRecord(ContentType.application_data, te.encode("again"));
  assert.equal(td.decode((await conn.read())!), "again");
  await conn.write(te.encode("still"));
  assert.equal(td.decode((await server.readAppData())!), "still");
  assert.equal(server.result.keyUpdates, 1);
  await conn.close();
});

Deno.test("updateKeys(true) sends a KeyUpdate and the server's answer is honoured", async () => {
  const { conn, server } = await connect();
  await conn.updateKeys(true);
  await conn.write(te.encode("x"));
  assert.equal(td.decode((await server.readAppData())!), "x");
  assert.equal(server.result.keyUpdates, 1);
  await server.sendRecord(ContentType.application_data, te.encode("y"));
  assert.equal(td.decode((await conn.read())!), "y");
  await conn.close();
});

Deno.test("writes issued in the same tick go out as one transport write in as few records as possible", async () => {
  const { conn, server, c } = await connect();
  const before = c.writes;
  const parts = Array.from({ length: 200 }, (_, i) => te.encode(`message ${i};`.padEnd(100, ".")));
  await Promise.all(parts.map((p) => conn.write(p)));
  assert.equal(c.writes - before, 1, "one transport write");
  const total = parts.reduce((n, p) => n + p.length, 0); // 20,000 bytes: two records
  const first = await server.readAppData();
  const second = await server.readAppData();
  assert.equal(first!.length, 16384);
  assert.equal(first!.length + second!.length, total);
  assert.equal(td.decode(concatBytes(first!, second!)), td.decode(concatBytes(...parts)));
  const big = new Uint8Array(40_000).map((_, i) => i % 251);
  await conn.write(big);
  const got: Uint8Array[] = [];
  while (got.reduce((n, g) => n + g.length, 0) < big.length) {
    got.push((await server.readAppData())!);
  }
  assert.deepEqual(got.map((g) => g.length), [16384, 16384, 7232]);
  assert.deepEqual(concatBytes(...got), big);
  await conn.close();
});

Deno.test("close() sends close_notify, is idempotent, and later writes fail", async () => {
  const { conn, server } = await connect();
  await Promise.all([conn.close(), conn.close()]);
  assert.equal(await server.readAppData(), null);
  assert.equal(server.result.alert, "close_notify");
  await assert.rejects(conn.write(te.encode("late")), TlsClosedError);
  assert.equal(await conn.read(), null);
  await conn.closed;
});

Deno.test("read() returns null after the server's close_notify", async () => {
  const { conn, server } = await connect();
  await server.sendRecord(ContentType.application_data, te.encode("last"));
  await server.sendRecord(ContentType.alert, new Uint8Array([1, 0]));
  assert.equal(td.decode((await conn.read())!), "last");
  assert.equal(await conn.read(), null);
  assert.equal(await conn.read(), null);
  await conn.close();
});

Deno.test("user_canceled after the handshake is a closure alert: the stream ends, later data is ignored", async () => {
  const { conn, server } = await connect();
  await server.sendRecord(ContentType.alert, new Uint8Array([1, 90]));
  await server.sendRecord(ContentType.application_data, te.encode("ignored"));
  assert.equal(await conn.read(), null);
  assert.equal(await conn.read(), null);
  await conn.close();
});

Deno.test("a fatal alert after the handshake becomes an error naming the alert", async () => {
  const { conn, server } = await connect();
  await server.sendRecord(ContentType.alert, new Uint8Array([2, 42]));
  await assert.rejects(
    conn.read(),
    (e: unknown) =>
      e instanceof TlsAlertReceivedError && e.received === "bad_certificate" &&
      /refused our client certificate/.test(e.message),
  );
  await conn.closed;
  await assert.rejects(conn.write(te.encode("x")), TlsAlertReceivedError);
});

Deno.test("post-handshake messages other than NewSessionTicket and KeyUpdate get unexpected_message", async () => {
  for (const msg of [[13, 0, 0, 3, 0, 0, 0], [2, 0, 0, 0], [24, 0, 0, 1, 7]]) {
    const { conn, server } = await connect();
    await server.sendRecord(ContentType.handshake, new Uint8Array(msg));
    const alert = msg[0] === 24 ? "illegal_parameter" : "unexpected_message";
    await assert.rejects(
      conn.read(),
      (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === alert,
    );
    assert.equal(await server.readAlert(), alert);
  }
});

Deno.test("a change_cipher_spec after the handshake gets unexpected_message", async () => {
  const { conn, server } = await connect();
  await server.sendRaw(new Uint8Array([20, 3, 3, 0, 1, 1]));
  await assert.rejects(
    conn.read(),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "unexpected_message",
  );
});

Deno.test("the handshake times out when the server says nothing", async () => {
  const [c, s] = pipePair();
  const started = Date.now();
  await assert.rejects(
    startTlsWithConfig(c, fakeClientConfig(), { handshakeTimeoutMs: 200 }),
    (e: unknown) => e instanceof TlsTimeoutError && /200 ms/.test(e.message),
  );
  assert.ok(Date.now() - started < 2_000);
  assert.ok(c.closed);
  s.close();
});

Deno.test("a read that stalls in the middle of a record times out", async () => {
  const [c, s] = pipePair();
  const server = new FakeServer(s);
  server.handshake().catch(() => {});
  const conn = await startTlsWithConfig(c, fakeClientConfig(), { readTimeoutMs: 200 });
  await s.write(new Uint8Array([23, 3, 3, 0, 50, 1, 2, 3]));
  await assert.rejects(conn.read(), TlsTimeoutError);
  await conn.closed;
});

Deno.test("an aborted signal cancels the handshake", async () => {
  const [c, s] = pipePair();
  const ac = new AbortController();
  const p = startTlsWithConfig(c, fakeClientConfig(), { signal: ac.signal });
  setTimeout(() => ac.abort(new Error("stop")), 20);
  await assert.rejects(p, (e: unknown) => e instanceof TlsLocalError && /aborted/.test(e.message));
  s.close();
});

Deno.test("awaitAcceptance() tells a server that accepted us from one that refused or stays silent", async () => {
  const ticket = encodeNewSessionTicket({
    lifetime: 60,
    ageAdd: 0,
    nonce: new Uint8Array(0),
    ticket: new Uint8Array(8),
    extensions: [],
  });
  const a = await connect();
  await a.server.sendRecord(ContentType.handshake, ticket);
  assert.equal(await a.conn.awaitAcceptance(1_000), "accepted");
  await a.conn.close();

  const b = await connect();
  await b.server.sendRecord(ContentType.application_data, te.encode("hello first"));
  assert.equal(await b.conn.awaitAcceptance(1_000), "accepted");
  assert.equal(td.decode((await b.conn.read())!), "hello first", "data kept for read()");
  await b.conn.close();

  const c = await connect();
  assert.equal(await c.conn.awaitAcceptance(50), "silent");
  // The read started by awaitAcceptance still delivers what comes later.
  await c.server.sendRecord(ContentType.application_data, te.encode("late"));
  assert.equal(td.decode((await c.conn.read())!), "late");
  await c.conn.close();

  const d = await connect();
  await d.server.sendRecord(ContentType.alert, new Uint8Array([2, 116]));
  await assert.rejects(
    d.conn.awaitAcceptance(1_000),
    (e: unknown) => e instanceof TlsAlertReceivedError && e.received === "certificate_required",
  );
  await d.conn.closed;
});
