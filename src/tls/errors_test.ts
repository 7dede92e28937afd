/**
 * The one alert rule (errors.ts): each error class carries the alert RFC 8446 section 6.2 names
 * for its failure, and both failure paths (the handshake in client.ts, the established
 * connection in connection.ts) send exactly that alert, or none.
 */

import assert from "node:assert/strict";
import { startTlsWithConfig } from "./client.ts";
import {
  asTlsError,
  receivedAlertError,
  TlsAlertReceivedError,
  TlsCertificateError,
  TlsClosedError,
  TlsDecodeError,
  type TlsError,
  TlsLocalError,
  TlsPeerIncompatibleError,
  TlsPeerMisbehavedError,
  TlsTimeoutError,
} from "./errors.ts";
import { ContentType } from "./record/mod.ts";
import { fakeClientConfig, FakeServer, pipePair } from "./testing/mod.ts";

const cases: [string, TlsError, string | undefined][] = [
  ["TlsDecodeError", new TlsDecodeError("garbage"), "decode_error"],
  [
    "TlsPeerMisbehavedError",
    new TlsPeerMisbehavedError("out of order", "unexpected_message"),
    "unexpected_message",
  ],
  [
    "TlsPeerIncompatibleError",
    new TlsPeerIncompatibleError("TLS 1.2 only", "protocol_version"),
    "protocol_version",
  ],
  [
    "TlsCertificateError",
    new TlsCertificateError("unknown CA", "unknown_ca", { reason: "unknown issuer" }),
    "unknown_ca",
  ],
  ["TlsAlertReceivedError", new TlsAlertReceivedError("peer gave up", 40), undefined],
  ["TlsTimeoutError", new TlsTimeoutError("too slow"), undefined],
  ["TlsLocalError (token failed)", new TlsLocalError("sign", "internal_error"), "internal_error"],
  ["TlsLocalError (socket broke)", new TlsLocalError("EPIPE", undefined), undefined],
  ["TlsClosedError", new TlsClosedError("closed"), undefined],
  ["a non-TLS error", asTlsError(new RangeError("bug"), "TLS handshake failed"), "internal_error"],
];

for (const [name, err, alert] of cases) {
  Deno.test(`${name} sends ${alert ?? "no alert"} (RFC 8446 6.2)`, () => {
    assert.equal(err.alertToSend, alert);
  });
}

Deno.test("asTlsError() keeps a TlsError as it is and wraps anything else with its cause", () => {
  const tls = new TlsDecodeError("x");
  assert.equal(asTlsError(tls, "ignored"), tls);
  const bug = new Error("boom");
  const wrapped = asTlsError(bug, "TLS connection failed");
  assert.ok(wrapped instanceof TlsLocalError);
  assert.equal(wrapped.message, "TLS connection failed: boom");
  assert.equal(wrapped.cause, bug);
});

Deno.test("receivedAlertError() keeps the received alert apart from the alert to send", () => {
  const e = receivedAlertError(new Uint8Array([2, 42]), "while waiting for ServerHello");
  assert.ok(e instanceof TlsAlertReceivedError);
  assert.equal(e.received, "bad_certificate");
  assert.equal(e.alertCode, 42);
  assert.equal(e.alertToSend, undefined);
  const odd = receivedAlertError(new Uint8Array([2, 200]), "after the handshake");
  assert.equal((odd as TlsAlertReceivedError).received, "alert 200");
  assert.equal(receivedAlertError(new Uint8Array([2]), "x").alertToSend, "decode_error");
});

Deno.test("the handshake path sends the failing error's alertToSend", async () => {
  const [c, s] = pipePair();
  const server = new FakeServer(s);
  // An application_data record before ServerHello: the peer misbehaved (RFC 8446 5.1).
  await server.sendRecord(ContentType.application_data, new Uint8Array([1]));
  let failure: TlsError | undefined;
  await startTlsWithConfig(c, fakeClientConfig(), { handshakeTimeoutMs: 5_000 }).catch((e) =>
    failure = e
  );
  assert.ok(failure instanceof TlsPeerMisbehavedError, String(failure));
  assert.equal(await server.readAlert(), failure.alertToSend);
  s.close();
});

Deno.test("the connection path sends the failing error's alertToSend, and none for an alert received", async () => {
  for (const [record, expected] of [["garbage", "decode_error"], ["alert", undefined]] as const) {
    const [c, s] = pipePair();
    const server = new FakeServer(s);
    const done = server.handshake();
    done.catch(() => {});
    const conn = await startTlsWithConfig(c, fakeClientConfig(), { handshakeTimeoutMs: 5_000 });
    await done;
    if (record === "garbage") {
      // A KeyUpdate whose body is not one byte: a decode error after the handshake.
      await server.sendRecord(ContentType.handshake, new Uint8Array([24, 0, 0, 2, 0, 0]));
    } else {
      await server.sendRecord(ContentType.alert, new Uint8Array([2, 40]));
    }
    let failure: TlsError | undefined;
    await conn.read().catch((e) => failure = e);
    assert.ok(failure, `${record}: the read failed`);
    assert.equal(failure.alertToSend, expected);
    assert.equal(await server.readAlert(), expected, record);
    s.close();
  }
});
