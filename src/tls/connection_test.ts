/**
 * The connection's read path with several records in one socket read: every record already
 * buffered is opened at once (one chunk of data), in order, with a KeyUpdate taking effect
 * between two of them, and data that came before an alert or a bad record handed out first;
 * post-handshake messages bounded by their grammar and not interleaved with other records.
 */

import assert from "node:assert/strict";
import { concatBytes } from "./codec.ts";
import { startTlsWithConfig } from "./client.ts";
import { TlsAlertReceivedError, TlsDecodeError, TlsPeerMisbehavedError } from "./errors.ts";
import { encodeNewSessionTicket, MAX_NEW_SESSION_TICKET } from "./messages/mod.ts";
import { ContentType } from "./record/mod.ts";
import { fakeClientConfig, FakeServer } from "./testing/mod.ts";
import { pipePair } from "./testing/mod.ts";

const te = new TextEncoder();
const td = new TextDecoder();

async function connect() {
  const [c, s] = pipePair();
  const server = new FakeServer(s);
  const serverDone = server.handshake();
  serverDone.catch(() => {});
  const conn = await startTlsWithConfig(c, fakeClientConfig(), { handshakeTimeoutMs: 5_000 });
  await serverDone;
  return { conn, server, c };
}

const data = (server: FakeServer, text: string) =>
  server.record(ContentType.application_data, te.encode(text));

Deno.test("read() hands out the data of every record already buffered as one chunk, in order", async () => {
  const { conn, server, c } = await connect();
  const reads = c.reads;
  await server.sendRaw(concatBytes(data(server, "one,"), data(server, "two,"), data(server, "3")));
  assert.equal(td.decode((await conn.read())!), "one,two,3");
  assert.equal(c.reads - reads, 1, "one socket read");
  // Records that arrive one by one still come out one by one.
  await server.sendRecord(ContentType.application_data, te.encode("four"));
  assert.equal(td.decode((await conn.read())!), "four");
  await conn.close();
});

Deno.test("a KeyUpdate between buffered records takes effect before the next one is opened", async () => {
  const { conn, server } = await connect();
  const ticket = encodeNewSessionTicket({
    lifetime: 1,
    ageAdd: 0,
    nonce: new Uint8Array(0),
    ticket: new Uint8Array(4),
    extensions: [],
  });
  await server.sendRaw(concatBytes(
    data(server, "old keys,"),
    server.record(ContentType.handshake, ticket),
    server.keyUpdateRecord(true),
    data(server, "new keys"),
  ));
  let got = "";
  while (got.length < "old keys,new keys".length) got += td.decode((await conn.read())!);
  assert.equal(got, "old keys,new keys");
  // Our answer to update_requested went out, and the server reads us under our new keys.
  await conn.write(te.encode("after"));
  assert.equal(td.decode((await server.readAppData())!), "after");
  assert.equal(server.result.keyUpdates, 1);
  await conn.close();
});

Deno.test("data buffered before close_notify is read before the end of the stream", async () => {
  const { conn, server } = await connect();
  await server.sendRaw(concatBytes(
    data(server, "last words"),
    server.record(ContentType.alert, new Uint8Array([1, 0])),
  ));
  assert.equal(td.decode((await conn.read())!), "last words");
  assert.equal(await conn.read(), null);
  assert.equal(await conn.read(), null);
  await conn.close();
});

Deno.test("data buffered before a fatal alert or a forged record is read, then the error", async () => {
  const a = await connect();
  await a.server.sendRaw(concatBytes(
    data(a.server, "before"),
    a.server.record(ContentType.alert, new Uint8Array([2, 40])),
  ));
  assert.equal(td.decode((await a.conn.read())!), "before");
  await assert.rejects(
    a.conn.read(),
    (e: unknown) => e instanceof TlsAlertReceivedError && e.received === "handshake_failure",
  );
  await a.conn.closed;

  const b = await connect();
  const good = data(b.server, "good");
  const forged = data(b.server, "forged");
  forged[forged.length - 1] ^= 1;
  await b.server.sendRaw(concatBytes(good, forged));
  // The good record comes out; the forged one ends the connection at once, with our alert.
  assert.equal(td.decode((await b.conn.read())!), "good");
  assert.equal(await b.server.readAlert(), "bad_record_mac");
  await assert.rejects(
    b.conn.read(),
    (e: unknown) => e instanceof TlsPeerMisbehavedError && e.alertToSend === "bad_record_mac",
  );
  await b.conn.closed;
});

Deno.test("reads queued before data arrives are answered in order", async () => {
  const { conn, server } = await connect();
  const first = conn.read();
  const second = conn.read();
  await server.sendRecord(ContentType.application_data, te.encode("a"));
  await server.sendRecord(ContentType.application_data, te.encode("b"));
  assert.deepEqual([td.decode((await first)!), td.decode((await second)!)], ["a", "b"]);
  await conn.close();
});

/** `message` as handshake records of at most `size` bytes, sealed by the server. */
function fragments(server: FakeServer, message: Uint8Array, size = 16384): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < message.length; at += size) {
    out.push(server.record(ContentType.handshake, message.subarray(at, at + size)));
  }
  return out;
}

const smallTicket = () =>
  encodeNewSessionTicket({
    lifetime: 1,
    ageAdd: 0,
    nonce: new Uint8Array(0),
    ticket: new Uint8Array(40),
    extensions: [],
  });

Deno.test("an empty application_data record inside a fragmented NewSessionTicket is refused (RFC 8446 5.1)", async () => {
  // Between whole messages an empty record is harmless: skipped.
  const a = await connect();
  await a.server.sendRaw(concatBytes(
    data(a.server, "a"),
    a.server.record(ContentType.application_data, new Uint8Array(0)),
    ...fragments(a.server, smallTicket()),
    a.server.record(ContentType.application_data, new Uint8Array(0)),
    data(a.server, "b"),
  ));
  let got = "";
  while (got.length < 2) got += td.decode((await a.conn.read())!);
  assert.equal(got, "ab");
  await a.conn.close();
  // Inside a message it is refused exactly like a non-empty one.
  for (const size of [0, 1]) {
    const b = await connect();
    const [head, tail] = [smallTicket().subarray(0, 10), smallTicket().subarray(10)];
    await b.server.sendRaw(concatBytes(
      b.server.record(ContentType.handshake, head),
      b.server.record(ContentType.application_data, new Uint8Array(size)),
      b.server.record(ContentType.handshake, tail),
    ));
    await assert.rejects(
      b.conn.read(),
      (e: unknown) =>
        e instanceof TlsPeerMisbehavedError && e.alertToSend === "unexpected_message" &&
        /interleaved another record with a fragmented handshake message/.test(e.message),
    );
    assert.equal(await b.server.readAlert(), "unexpected_message");
    await b.conn.closed;
  }
});

Deno.test("a NewSessionTicket as large as its grammar allows is accepted, one byte more refused", async () => {
  // ticket<1..2^16-1>, nonce<0..255>, extensions<0..2^16-2>: 131337 bytes of body.
  const largest = encodeNewSessionTicket({
    lifetime: 7200,
    ageAdd: 1,
    nonce: new Uint8Array(255),
    ticket: new Uint8Array(0xffff).fill(7),
    extensions: [{ type: 0xfafa, data: new Uint8Array(0xfffe - 4) }],
  });
  assert.equal(largest.length - 4, MAX_NEW_SESSION_TICKET);
  assert.equal(MAX_NEW_SESSION_TICKET, 131337);
  const a = await connect();
  await a.server.sendRaw(concatBytes(...fragments(a.server, largest), data(a.server, "after")));
  assert.equal(await a.conn.awaitAcceptance(5_000), "accepted");
  assert.equal(td.decode((await a.conn.read())!), "after");
  await a.conn.close();
  // A length beyond the grammar is refused from the header, before anything is buffered.
  const b = await connect();
  const n = MAX_NEW_SESSION_TICKET + 1;
  await b.server.sendRecord(
    ContentType.handshake,
    new Uint8Array([4, n >> 16, (n >> 8) & 0xff, n & 0xff]),
  );
  await assert.rejects(
    b.conn.read(),
    (e: unknown) =>
      e instanceof TlsDecodeError &&
      e.message === "Server sent a new_session_ticket message of 131338 bytes: the limit is 131337",
  );
  assert.equal(await b.server.readAlert(), "decode_error");
  await b.conn.closed;
});
