import assert from "node:assert/strict";
import { exitCodeOf } from "../../errors.ts";
import { KeyUri, KeyUriError } from "./uri.ts";

// RFC 7512 section 3.3, every example.
const RFC_7512_EXAMPLES = [
  "pkcs11:",
  "pkcs11:object=my-pubkey;type=public",
  "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
  "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;" +
  "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=" +
  "?pin-source=file:/etc/token_pin",
  "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
  "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
  "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
  "pkcs11:slot-description=Sun%20Metaslot",
  "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;" +
  "library-version=1.23",
  "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;" +
  "id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
  "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
  "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
  "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a" +
  "?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
];

Deno.test("KeyUri.parse() accepts every example of RFC 7512 section 3.3", () => {
  for (const text of RFC_7512_EXAMPLES) {
    const uri = KeyUri.parse(text);
    // The canonical form parses to the same thing (pin included so nothing is lost).
    const again = KeyUri.parse(uri.toString({ includePin: true }));
    assert.equal(again.toString({ includePin: true }), uri.toString({ includePin: true }), text);
  }
});

Deno.test("KeyUri.parse() decodes the attributes of the RFC 7512 examples", () => {
  const a = KeyUri.parse(RFC_7512_EXAMPLES[3]);
  assert.equal(a.token, "The Software PKCS#11 Softtoken");
  assert.equal(a.manufacturer, "Snake Oil, Inc.");
  assert.equal(a.model, "1.0");
  assert.equal(a.object, "my-certificate");
  assert.equal(a.type, "cert");
  assert.deepEqual(a.id, Uint8Array.of(0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91));
  assert.equal(a.serial, "");
  assert.equal(a.pinSource, "file:/etc/token_pin");

  const b = KeyUri.parse(RFC_7512_EXAMPLES[6]);
  assert.equal(b.token, "Software PKCS#11 softtoken");
  assert.equal(b.pinValue?.expose(), "the-pin");

  const c = KeyUri.parse(RFC_7512_EXAMPLES[9]);
  assert.equal(c.token, "My token% created by Joe");
  assert.deepEqual(c.libraryVersion, { major: 3, minor: 0 });
  assert.deepEqual(c.id, Uint8Array.of(1, 2, 3, 0xba, 0xdd, 0xca, 0xfe, 4, 5, 6));

  assert.equal(KeyUri.parse(RFC_7512_EXAMPLES[10]).token, "A name with a substring %;");
  assert.equal(KeyUri.parse(RFC_7512_EXAMPLES[11]).token, "Name with a small A with acute: á");
  assert.deepEqual(KeyUri.parse(RFC_7512_EXAMPLES[8]).libraryVersion, { major: 1, minor: 23 });
  assert.equal(KeyUri.parse(RFC_7512_EXAMPLES[5]).modulePath, "/mnt/libmypkcs11.so.1");

  const v = KeyUri.parse(RFC_7512_EXAMPLES[12]);
  assert.deepEqual(v.vendorPath, { "vendor-aaa": "value-a" });
  assert.deepEqual(v.vendorQuery, { "vendor-bbb": ["value-b"] });
});

Deno.test("KeyUri.parse() reads slot-id as a number and type case-insensitively", () => {
  const uri = KeyUri.parse("pkcs11:slot-id=1009069471;TYPE=Private");
  assert.equal(uri.slotId, 1009069471n);
  assert.equal(uri.type, "private");
});

Deno.test("KeyUri.parse() rejects a duplicated attribute", () => {
  assert.throws(
    () => KeyUri.parse("pkcs11:token=a;object=k;token=b"),
    (e: unknown) =>
      e instanceof KeyUriError && e.attribute === "token" && /more than once/.test(e.message),
  );
  assert.throws(() => KeyUri.parse("pkcs11:vendor-x=1;vendor-x=2"), /"vendor-x".*more than once/);
  assert.throws(() => KeyUri.parse("pkcs11:?pin-value=1&pin-value=2"), /"pin-value".*more/);
});

Deno.test("KeyUri.parse() lets a vendor query attribute repeat (RFC 7512 section 2.4)", () => {
  assert.deepEqual(KeyUri.parse("pkcs11:?x-a=1&x-a=2").vendorQuery, { "x-a": ["1", "2"] });
});

Deno.test("KeyUri.parse() rejects bad syntax naming the attribute", () => {
  const cases: [string, RegExp][] = [
    ["pkcs12:token=a", /does not start with "pkcs11:"/],
    ["token=a", /does not start with "pkcs11:"/],
    ["pkcs11:token", /"token": expected "name=value"/],
    ["pkcs11:token=a;;object=b", /empty path attribute/],
    ["pkcs11:token=a b", /"token": "a b" contains " " that must be percent-encoded/],
    ["pkcs11:object=%4", /"object": .*bad percent-escape/],
    ["pkcs11:object=%zz", /"object": .*bad percent-escape/],
    ["pkcs11:object=%ff", /"object": .*not valid UTF-8/],
    ["pkcs11:type=key", /"type": "key" is not one of/],
    ["pkcs11:slot-id=x1", /"slot-id": "x1" is not a decimal number/],
    ["pkcs11:library-version=1.2.3", /"library-version"/],
    ["pkcs11:token=a?object=k", /"object": it is a path attribute/],
    ["pkcs11:token=a;pin-value=1234", /"pin-value": it is a query attribute/],
    ["pkcs11:?module-path=lib.so", /"module-path": "lib.so" is not an absolute path/],
    ["pkcs11:?pin-source=file:/p&pin-value=1", /"pin-source": .*"pin-value"/],
    ["pkcs11:bad.name=1", /"bad.name": names are letters/],
    ["pkcs11:object=a/b", /"object": .*"\/" that must be percent-encoded/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => KeyUri.parse(text), (e: unknown) => {
      assert.ok(e instanceof KeyUriError, text);
      assert.equal(exitCodeOf(e), 78);
      assert.match(e.message, re, text);
      return true;
    });
  }
});

Deno.test("KeyUri.parse() never puts a PIN in an error message", () => {
  for (
    const text of [
      "pkcs11:?pin-value=se cret",
      "pkcs11:?pin-value=se%zzcret",
      "pkcs1:?pin-value=secret",
    ]
  ) {
    assert.throws(() => KeyUri.parse(text), (e: unknown) => {
      assert.doesNotMatch((e as Error).message, /secret|se cret/);
      return true;
    });
  }
});

Deno.test("KeyUri.toString() leaves out the PIN unless asked and percent-encodes values", () => {
  const uri = KeyUri.parse("pkcs11:token=my%20token;object=k%3b1;id=%01%ab?pin-value=1234");
  assert.equal(uri.toString(), "pkcs11:token=my%20token;object=k%3B1;id=%01%AB");
  assert.equal(
    uri.toString({ includePin: true }),
    "pkcs11:token=my%20token;object=k%3B1;id=%01%AB?pin-value=1234",
  );
  assert.equal(JSON.stringify({ uri }), `{"uri":"pkcs11:token=my%20token;object=k%3B1;id=%01%AB"}`);
  assert.doesNotMatch(Deno.inspect(uri), /1234/);
});

Deno.test("KeyUri.with() replaces and removes fields", () => {
  const uri = KeyUri.parse("pkcs11:token=edge;object=k?pin-value=1");
  assert.equal(
    uri.with({ object: undefined, serial: "42" }).toString(),
    "pkcs11:token=edge;serial=42",
  );
  assert.equal(uri.with({ object: "x" }).pinValue?.expose(), "1");
});
