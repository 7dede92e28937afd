/**
 * Frames byte for byte against thin-edge's golden vectors (the snapshot tests of
 * crates/common/tedge-p11/src/proxy/frame1.rs and frame.rs): each vector decodes to the frame
 * thin-edge expects, and that frame encodes back to the same bytes.
 */
import assert from "node:assert/strict";
import { Secret } from "../../secret.ts";
import {
  decodeFrame,
  decodeFrame1,
  encodeFrame,
  encodeFrame1,
  type Frame1,
  FRAME_TYPES,
  FrameError,
} from "./frame.ts";

const text = (s: string) => new TextEncoder().encode(s);
const pin = (s: string) => new Secret(s);

/** Secrets compared by value (assert's deep equality cannot see their private field). */
function plain(v: unknown): unknown {
  if (v instanceof Secret) return { secret: v.expose() };
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}

/** [name, Frame1 bytes from thin-edge's tests, the frame they mean]. */
const GOLDEN: [string, number[], Frame1][] = [
  ["error", [0, 1, 97], { type: "Error", message: "a" }],
  ["choose_scheme_request", [1, 0, 0, 0], { type: "ChooseSchemeRequest", offered: [] }],
  [
    "choose_scheme_request_2",
    [1, 1, 131, 8, 1, 3, 117, 114, 105, 1, 3, 112, 105, 110],
    { type: "ChooseSchemeRequest", offered: [0x0403], uri: "uri", pin: pin("pin") },
  ],
  [
    "sign_request",
    [2, 4, 100, 97, 116, 97, 1, 3, 107, 101, 121, 1, 4, 100, 97, 116, 97],
    { type: "SignRequest", toSign: text("data"), uri: "key", pin: pin("data") },
  ],
  [
    "choose_scheme_response",
    [3, 1, 132, 16, 1],
    { type: "ChooseSchemeResponse", scheme: 0x0804, algorithm: 1 },
  ],
  ["sign_response", [4, 6, 115, 105, 103, 110, 101, 100], {
    type: "SignResponse",
    signature: text("signed"),
  }],
  [
    "sign_request_with_sigscheme",
    [5, 4, 100, 97, 116, 97, 1, 3, 107, 101, 121, 1, 0, 1, 4, 100, 97, 116, 97],
    {
      type: "SignRequestWithSigScheme",
      toSign: text("data"),
      uri: "key",
      sigscheme: 0x0403,
      pin: pin("data"),
    },
  ],
  ["get_public_key_pem_request_none", [6, 0], { type: "GetPublicKeyPemRequest" }],
  [
    "get_public_key_pem_request_some",
    [6, 1, 7, 112, 117, 98, 95, 117, 114, 105],
    { type: "GetPublicKeyPemRequest", uri: "pub_uri" },
  ],
  ["get_public_key_pem_response", [7, 3, 112, 101, 109], {
    type: "GetPublicKeyPemResponse",
    pem: "pem",
  }],
  ["ping", [8], { type: "Ping" }],
  ["pong", [9], { type: "Pong" }],
  [
    "create_key_request",
    [
      10,
      4,
      97,
      115,
      100,
      102,
      1,
      128,
      2,
      6,
      109,
      121,
      32,
      107,
      101,
      121,
      1,
      3,
      1,
      2,
      3,
      1,
      3,
      112,
      105,
      110,
    ],
    {
      type: "CreateKeyRequest",
      uri: "asdf",
      key: { kind: "ec", curve: 256 },
      label: "my key",
      id: Uint8Array.of(1, 2, 3),
      pin: pin("pin"),
    },
  ],
  [
    "create_key_response",
    [11, 7, 107, 101, 121, 32, 112, 101, 109, 7, 107, 101, 121, 32, 117, 114, 105],
    { type: "CreateKeyResponse", pem: "key pem", uri: "key uri" },
  ],
  ["get_tokens_uris_request", [12], { type: "GetTokensUrisRequest" }],
  ["get_tokens_uris_response", [13, 2, 1, 97, 1, 98], {
    type: "GetTokensUrisResponse",
    uris: ["a", "b"],
  }],
  [
    "init_token_request",
    [
      14,
      2,
      116,
      107,
      1,
      2,
      115,
      111,
      1,
      3,
      112,
      105,
      110,
      1,
      16,
      112,
      107,
      99,
      115,
      49,
      49,
      58,
      115,
      108,
      111,
      116,
      45,
      105,
      100,
      61,
      51,
    ],
    {
      type: "InitTokenRequest",
      label: "tk",
      soPin: pin("so"),
      pin: pin("pin"),
      uri: "pkcs11:slot-id=3",
    },
  ],
  ["init_token_request_defaults", [14, 2, 116, 107, 0, 0, 0], {
    type: "InitTokenRequest",
    label: "tk",
  }],
  ["init_token_response", [15, 1, 117], { type: "InitTokenResponse", uri: "u" }],
  ["list_tokens_request", [16], { type: "ListTokensRequest" }],
  [
    "list_tokens_response",
    [17, 1, 1, 2, 116, 107, 1, 109, 2, 109, 102, 1, 115, 1, 1, 117],
    {
      type: "ListTokensResponse",
      tokens: [{
        slot: 1n,
        label: "tk",
        model: "m",
        manufacturer: "mf",
        serial: "s",
        initialized: true,
        uri: "u",
      }],
    },
  ],
  [
    "change_pin_request",
    [18, 1, 1, 117, 2, 110, 112, 1, 2, 111, 112, 1, 2, 115, 111, 1],
    {
      type: "ChangePinRequest",
      uri: "u",
      newPin: pin("np"),
      oldPin: pin("op"),
      soPin: pin("so"),
      reset: true,
    },
  ],
  ["change_pin_request_defaults", [18, 0, 2, 110, 112, 0, 0, 0], {
    type: "ChangePinRequest",
    newPin: pin("np"),
    reset: false,
  }],
  ["change_pin_response", [19, 1, 117], { type: "ChangePinResponse", uri: "u" }],
  ["delete_key_request", [20, 1, 117, 1, 1, 112], {
    type: "DeleteKeyRequest",
    uri: "u",
    pin: pin("p"),
  }],
  ["delete_key_response", [21, 2, 1, 97, 1, 98], {
    type: "DeleteKeyResponse",
    deleted: ["a", "b"],
  }],
  ["list_keys_request", [22, 1, 1, 117, 1, 1, 112], {
    type: "ListKeysRequest",
    uri: "u",
    pin: pin("p"),
  }],
  [
    "list_keys_response",
    [23, 1, 1, 112, 1, 69, 1, 107, 1, 49, 1, 117],
    {
      type: "ListKeysResponse",
      keys: [{ class: "p", keyType: "E", label: "k", id: "1", uri: "u" }],
    },
  ],
];

for (const [name, bytes, frame] of GOLDEN) {
  Deno.test(`decodeFrame1() reads thin-edge's golden ${name} and encodeFrame1() writes it back`, () => {
    assert.deepEqual(plain(decodeFrame1(Uint8Array.from(bytes))), plain(frame));
    assert.deepEqual([...encodeFrame1(frame)], bytes);
  });
}

Deno.test("the golden vectors cover every Frame1 variant", () => {
  const covered = new Set(GOLDEN.map(([, , f]) => f.type));
  assert.deepEqual(FRAME_TYPES.filter((t) => !covered.has(t)), []);
});

Deno.test("encodeFrame() prefixes Frame::Version1 (thin-edge frame.rs deserialize_demo)", () => {
  const bytes = encodeFrame({ type: "Error", message: "aaaa" });
  assert.deepEqual([...bytes], [0, 0, 4, 97, 97, 97, 97]);
  assert.deepEqual(decodeFrame(bytes), { type: "Error", message: "aaaa" });
});

Deno.test("decodeFrame() ignores fields appended by a newer peer, as postcard's from_bytes does", () => {
  // A Ping from a future client that carries an extra field, and a GetPublicKeyPemRequest
  // followed by an unknown trailing value.
  assert.deepEqual(decodeFrame(Uint8Array.of(0, 8, 1, 2, 3)), { type: "Ping" });
  assert.deepEqual(plain(decodeFrame(Uint8Array.of(0, 6, 0, 9, 9))), {
    type: "GetPublicKeyPemRequest",
  });
});

Deno.test("decodeFrame() reads a 1.6 client's requests, which end before the appended pin", () => {
  // tedge 1.6.x: ChooseSchemeRequest { offered, uri } and SignRequestWithSigScheme without pin.
  const choose = decodeFrame(Uint8Array.of(0, 1, 1, 131, 8, 0));
  assert.deepEqual(plain(choose), { type: "ChooseSchemeRequest", offered: [0x0403] });
  const sign = decodeFrame(Uint8Array.of(0, 5, 1, 0x61, 0, 1, 3));
  assert.deepEqual(plain(sign), {
    type: "SignRequestWithSigScheme",
    toSign: [0x61],
    sigscheme: 0x0804,
  });
});

Deno.test("decodeFrame() refuses garbage, truncated frames and lies about lengths", () => {
  const bad: [number[], RegExp][] = [
    [[], /empty frame/],
    [[1, 8], /unknown frame version 1/],
    [[0x80], /frame ends before frame version/],
    [[0, 24], /unknown frame tag 24/],
    [[0, 0xff, 0xff, 0xff, 0xff, 0x7f], /out of range|too long/],
    [[0, 0, 5, 97], /length of error message \(5\) exceeds the 1 bytes left/],
    [[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], /too large|length/],
    [[0, 0, 2, 0xc3, 0x28], /not UTF-8/],
    [[0, 1, 1, 131], /frame ends before signature scheme/],
    [[0, 1, 0, 2], /invalid option tag 2/],
    [[0, 5, 0, 0, 1, 5], /unknown sigscheme 5/],
    [[0, 17, 1, 1, 0, 0, 0, 0, 2, 0], /invalid bool 2/],
    [[0, 10, 0, 2, 0], /unknown key type 2/],
    [[0, 1, 1, 0xff, 0xff, 0x04, 0, 0], /signature scheme out of range/],
  ];
  for (const [bytes, message] of bad) {
    assert.throws(() => decodeFrame(Uint8Array.from(bytes)), (e) => {
      assert.ok(e instanceof FrameError, `${bytes}: ${e}`);
      assert.match(e.message, message, `${bytes}`);
      return true;
    });
  }
});

Deno.test("encodeFrame1() refuses a sigscheme the protocol cannot name", () => {
  assert.throws(
    () =>
      encodeFrame1({
        type: "SignRequestWithSigScheme",
        toSign: new Uint8Array(),
        sigscheme: 0x0807,
      }),
    /0x0807 cannot be named/,
  );
});

Deno.test("a frame never prints its PIN", () => {
  const frame = decodeFrame1(Uint8Array.from(GOLDEN[1 + 1][1]));
  assert.doesNotMatch(Deno.inspect(frame) + JSON.stringify(frame), /"pin"\s*:\s*"pin"|'pin'\b/);
  assert.match(JSON.stringify(frame), /"pin":"\[redacted\]"/);
});
