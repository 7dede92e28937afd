/**
 * The socket-mode client against servers that are missing, silent, broken or old (stand-ins
 * on real Unix sockets, tests/helpers/fake_p11_server.ts): each gets a clear error, and an old
 * release is named with the version the request needs.
 */
import assert from "node:assert/strict";
import { exitCodeOf, isCredentialError } from "../src/errors.ts";
import {
  encodeFrame,
  encodeServerPublicKey,
  type Frame1,
  KeyUri,
  listTokensThrough,
  openSocketKey,
  P11Client,
  P11ConnectionError,
  P11ServerError,
  P11VersionError,
  PinLockedError,
  Secret,
} from "../src/keys/mod.ts";
import { FakeP11Server, oldServer, staleSocket } from "./helpers/fake_p11_server.ts";
import { tempDir } from "./helpers/process.ts";

async function p256Spki(): Promise<Uint8Array> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  return new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
}

/** A server that knows a P-256 key (ChooseScheme, public key) and signs "sig". */
function p256Answers(spki: Uint8Array): (f: Frame1) => Frame1 {
  return (f) => {
    switch (f.type) {
      case "ChooseSchemeRequest":
        return { type: "ChooseSchemeResponse", scheme: 0x0403, algorithm: 3 };
      case "GetPublicKeyPemRequest":
        return { type: "GetPublicKeyPemResponse", pem: encodeServerPublicKey(spki) };
      case "SignRequest":
      case "SignRequestWithSigScheme":
        return { type: "SignResponse", signature: new TextEncoder().encode("sig") };
      case "Ping":
        return { type: "Pong" };
      case "GetTokensUrisRequest":
        return {
          type: "GetTokensUrisResponse",
          uris: ["pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=ab12;token=edge"],
        };
      default:
        return { type: "Error", message: "unexpected" };
    }
  };
}

/** ChooseScheme against a server that answers with Error(message); `check` judges the error. */
async function refusedWith(
  dir: string,
  message: string,
  check: (e: unknown, socketPath: string) => void,
): Promise<void> {
  await using server = FakeP11Server.start(
    `${dir}/p11.sock`,
    () => encodeFrame({ type: "Error", message }),
  );
  const request = new P11Client({ socketPath: server.path }).chooseScheme(
    [0x0403],
    "pkcs11:token=edge",
    new Secret("0000"),
  );
  await assert.rejects(request, (e: unknown) => {
    check(e, server.path);
    return true;
  });
}

Deno.test("the client says why it cannot reach the server: no socket, nobody listening, no answer in time", async () => {
  await using dir = await tempDir();
  const missing = new P11Client({ socketPath: `${dir.path}/none.sock` });
  await assert.rejects(missing.ping(), (e: unknown) => {
    assert.ok(e instanceof P11ConnectionError);
    assert.equal(
      e.message,
      `Cannot connect to tedge-p11-server at "${dir.path}/none.sock": there is no socket at ` +
        `that path`,
    );
    return true;
  });

  // A socket file left behind by a server that was killed.
  const stale = `${dir.path}/stale.sock`;
  await staleSocket(stale);
  await assert.rejects(
    new P11Client({ socketPath: stale }).ping(),
    /Cannot connect to tedge-p11-server at ".*stale.sock": nothing is listening on the socket/,
  );

  await using hanging = FakeP11Server.start(`${dir.path}/hang.sock`, () => "hang");
  const started = performance.now();
  await assert.rejects(
    new P11Client({ socketPath: hanging.path, timeoutMs: 300 }).ping(),
    /tedge-p11-server at ".*hang.sock" did not answer within 300 ms/,
  );
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("the client refuses garbage, a wrong frame type, and an empty answer from a restarting server", async () => {
  await using dir = await tempDir();
  await using garbage = FakeP11Server.start(
    `${dir.path}/garbage.sock`,
    () => new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n"),
  );
  await assert.rejects(new P11Client({ socketPath: garbage.path }).ping(), (e: unknown) => {
    assert.ok(e instanceof P11ConnectionError);
    assert.match(e.message, /answered Ping with 26 bytes that are not a frame of its protocol/);
    return true;
  });
  await using wrong = FakeP11Server.start(
    `${dir.path}/wrong.sock`,
    () => encodeFrame({ type: "SignResponse", signature: new Uint8Array(1) }),
  );
  await assert.rejects(
    new P11Client({ socketPath: wrong.path }).ping(),
    /answered Ping with SignResponse instead of Pong/,
  );
  // Closes every connection without a word, even the probe: not old, gone.
  await using dying = FakeP11Server.start(`${dir.path}/dying.sock`, () => null);
  await assert.rejects(new P11Client({ socketPath: dying.path }).ping(), (e: unknown) => {
    assert.ok(e instanceof P11ConnectionError);
    assert.match(e.message, /closed the connection without answering Ping \(is it restarting/);
    return true;
  });
  assert.equal(dying.requests.length, 2, "the request and the version probe");
});

Deno.test("an old tedge-p11-server is named with the release the request needs (exit 78)", async () => {
  await using dir = await tempDir();
  const spki = await p256Spki();
  const cases: [Parameters<typeof oldServer>[0], (c: P11Client) => Promise<unknown>, string][] = [
    ["1.6.0", (c) => c.sign(new Uint8Array(4), undefined, 0x0403, undefined), "1.6.1 or later"],
    ["1.6.1", (c) => c.ping(), "1.7.0 or later"],
    ["1.6.1", (c) => c.publicKeyPem(undefined), "1.7.0 or later"],
    ["1.7.0", (c) => c.listTokens(), "a release after 2.0.1"],
    ["2.0.1", (c) => c.listKeys(undefined, undefined), "a release after 2.0.1"],
  ];
  for (const [version, call, needed] of cases) {
    const path = `${dir.path}/old-${version}.sock`;
    await using server = FakeP11Server.start(path, oldServer(version, p256Answers(spki)));
    await assert.rejects(call(new P11Client({ socketPath: server.path })), (e: unknown) => {
      assert.ok(e instanceof P11VersionError, `${version}: ${e}`);
      assert.equal(exitCodeOf(e), 78);
      assert.match(
        e.message,
        new RegExp(`is too old for \\w+: it needs tedge-p11-server ${needed}`),
      );
      return true;
    });
  }
  // Requests the old release knows still work.
  await using v16 = FakeP11Server.start(
    `${dir.path}/v16.sock`,
    oldServer("1.6.1", p256Answers(spki)),
  );
  const c = new P11Client({ socketPath: v16.path });
  assert.equal((await c.chooseScheme([0x0403], undefined, undefined)).scheme, 0x0403);
  assert.deepEqual(
    await c.sign(new Uint8Array(4), undefined, 0x0403, undefined),
    new TextEncoder().encode("sig"),
  );
});

Deno.test("openSocketKey() against 1.6.1 stops at the public key: it needs tedge-p11-server 1.7.0", async () => {
  await using dir = await tempDir();
  const spki = await p256Spki();
  await using server = FakeP11Server.start(
    `${dir.path}/p11.sock`,
    oldServer("1.6.1", p256Answers(spki)),
  );
  await assert.rejects(
    openSocketKey({ socketPath: server.path }),
    /too old for GetPublicKeyPemRequest: it needs tedge-p11-server 1.7.0 or later/,
  );
});

Deno.test("hsm list-tokens falls back to the token URIs of a 2.0 server", async () => {
  await using dir = await tempDir();
  await using server = FakeP11Server.start(
    `${dir.path}/p11.sock`,
    oldServer("2.0.1", p256Answers(await p256Spki())),
  );
  const tokens = await listTokensThrough({ client: new P11Client({ socketPath: server.path }) });
  assert.deepEqual(tokens, [{
    label: "edge",
    serial: "ab12",
    manufacturer: "SoftHSM project",
    model: "SoftHSM v2",
    slotId: "",
    flags: [],
    uri: "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=ab12;token=edge",
  }]);
});

Deno.test("a PIN the server refused is a credential error (exit 78), other refusals are not", async () => {
  await using dir = await tempDir();
  // tedge-p11-server's text for CKR_PIN_INCORRECT (the cryptoki crate's description).
  const refusals = new Map<string, number | undefined>([
    [
      "PKCS #11 service failed: Failed to find a signing key: Function::Login: The specified PIN " +
      "is incorrect, i.e., does not match the PIN stored on the token.",
      78,
    ],
    ['PKCS #11 service failed: Wrong PIN for token "edge": C_Login returned CKR_PIN_INCORRECT', 78],
    [
      "PKCS #11 service failed: Didn't find a slot to use. The device may be disconnected.",
      undefined,
    ],
  ]);
  for (const [message, exitCode] of refusals) {
    await refusedWith(dir.path, message, (e, socketPath) => {
      assert.ok(e instanceof P11ServerError);
      assert.equal(exitCodeOf(e), exitCode ?? 1);
      assert.equal(
        e.message,
        `tedge-p11-server at "${socketPath}" refused ChooseSchemeRequest: ${message}`,
      );
    });
  }
});

Deno.test("openSocketKey() sends device.key_uri with its pin-value and device.key_pin, as tedge 1.7 does", async () => {
  await using dir = await tempDir();
  const spki = await p256Spki();
  const seen: Frame1[] = [];
  const answers = p256Answers(spki);
  await using server = FakeP11Server.start(
    `${dir.path}/p11.sock`,
    oldServer("2.0.1", (f) => {
      seen.push(f);
      return answers(f);
    }),
  );
  const key = await openSocketKey({
    socketPath: server.path,
    uri: KeyUri.parse("pkcs11:token=edge;object=dev?pin-value=4321"),
    pin: new Secret("1234"),
    certificateSpki: spki,
  });
  const signature = await key.chooseScheme([0x0403])!.sign(new Uint8Array([1, 2]));
  assert.deepEqual(signature, new TextEncoder().encode("sig"));
  assert.deepEqual(seen.map((f) => f.type), [
    "ChooseSchemeRequest",
    "GetPublicKeyPemRequest",
    "SignRequestWithSigScheme",
  ]);
  const sign = seen[2] as Extract<Frame1, { type: "SignRequestWithSigScheme" }>;
  assert.equal(sign.uri, "pkcs11:token=edge;object=dev?pin-value=4321");
  assert.equal(sign.pin?.expose(), "1234");
  assert.equal(sign.sigscheme, 0x0403);
  assert.doesNotMatch(key.description, /4321|1234/);
});

Deno.test("a PIN the server reports locked is a PinLockedError (exit 1, waited out by run), not a refused PIN", async () => {
  await using dir = await tempDir();
  for (
    const message of [
      // tedge-p11-server's text for CKR_PIN_LOCKED (the cryptoki crate's description).
      "PKCS #11 service failed: Function::Login: The specified PIN is locked, and cannot be used.",
      // hsm-bridge p11-server's, from module mode's PinLockedError.
      'PKCS #11 service failed: PIN locked for token "edge": C_Login returned CKR_PIN_LOCKED',
    ]
  ) {
    await refusedWith(dir.path, message, (e) => {
      assert.ok(e instanceof PinLockedError, String(e));
      assert.ok(e.cause instanceof P11ServerError);
      assert.equal(exitCodeOf(e), 1);
      assert.equal(isCredentialError(e), false);
      assert.match(e.message, /^PIN locked for the token behind tedge-p11-server at ".*": /);
      assert.match(e.message, /tpm2_dictionarylockout --clear-lockout/);
    });
  }
});
