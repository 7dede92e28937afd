/**
 * Token listings and on-token key generation (the library under `hsm list-tokens`,
 * `hsm list-keys` and `hsm create-key`), against SoftHSM in-process; the generated keys'
 * attributes are read back independently with OpenSC's pkcs11-tool.
 */
import assert from "node:assert/strict";
import { KeyUri, openSigningKey, Secret, TokenNotFoundError } from "../src/keys/mod.ts";
import { createKey, listKeys, listTokens } from "../src/keys/pkcs11/provider.ts";
import { run, tempDir } from "./helpers/process.ts";
import { SoftHsm, SOFTHSM_MODULE } from "./helpers/softhsm.ts";
import { webCryptoVerify } from "./keys_contract.ts";

const access = { modulePath: SOFTHSM_MODULE, pin: new Secret("1234") };

Deno.test("keys generated on the token sign, stay on the token and may only sign", async () => {
  await using dir = await tempDir();
  const hsm = await SoftHsm.create(dir.path);
  Deno.env.set("SOFTHSM2_CONF", hsm.conf);
  await hsm.initToken("edge");
  const specs = [
    { type: "ecdsa", curve: "P-256" },
    { type: "ecdsa", curve: "P-384" },
    { type: "rsa", bits: 2048 },
    { type: "ed25519" },
  ] as const;
  for (const [i, spec] of specs.entries()) {
    const label = `gen-${i}`;
    const created = await createKey(access, spec, { label, id: Uint8Array.of(0x10 + i) });
    assert.equal(created.uri.toString().includes(`object=${label};id=%1${i};type=private`), true);
    const key = await openSigningKey({
      kind: "pkcs11",
      ...access,
      uri: KeyUri.parse(created.uri.toString()),
      certificateSpki: created.publicKeySpki,
    });
    try {
      const signer = key.chooseScheme(key.schemes)!;
      const message = new TextEncoder().encode(`generated ${label}`);
      assert.ok(
        await webCryptoVerify(
          created.publicKeySpki,
          signer.scheme,
          message,
          await signer.sign(message),
        ),
        label,
      );
    } finally {
      await key.close();
    }
  }
  const objects = await run("pkcs11-tool", [
    "--module",
    SOFTHSM_MODULE,
    "--token-label",
    "edge",
    "--login",
    "--pin",
    "1234",
    "--list-objects",
    "--type",
    "privkey",
  ], { env: hsm.env });
  const blocks = objects.stdout.split(/(?=Private Key Object)/).filter((b) => b.trim());
  assert.equal(blocks.length, specs.length, objects.stdout);
  for (const block of blocks) {
    assert.match(block, /Usage:\s+sign\s*\n/, block);
    assert.match(block, /Access:\s+.*\bsensitive\b.*never extractable/, block);
  }
  await assert.rejects(
    createKey(access, { type: "ed25519" }, { label: "gen-0" }),
    /A private key with label "gen-0" already exists on token "edge".*choose another --label/,
  );
  await assert.rejects(
    createKey(access, { type: "ed25519" }, { label: "fresh", id: Uint8Array.of(0x10) }),
    /A private key with id 10 already exists/,
  );
});

Deno.test("listTokens() and listKeys() describe tokens and keys, and which key is the certificate's", async () => {
  await using dir = await tempDir();
  const hsm = await SoftHsm.create(dir.path);
  Deno.env.set("SOFTHSM2_CONF", hsm.conf);
  assert.throws(() => listTokens(access), TokenNotFoundError);
  const edge = await hsm.initToken("edge");
  const other = await hsm.initToken("other");
  const a = await hsm.importNewKey(edge, "p384", { label: "a", idHex: "aa" });
  await hsm.importNewKey(edge, "rsa2048", { label: "b", idHex: "bb" });
  const tokens = listTokens(access);
  assert.deepEqual(tokens.map((t) => [t.label, t.serial]).sort(), [
    ["edge", edge.serial],
    ["other", other.serial],
  ]);
  const t = tokens.find((t) => t.label === "edge")!;
  assert.equal(t.manufacturer, "SoftHSM project");
  assert.equal(t.model, "SoftHSM v2");
  assert.ok(t.flags.includes("LOGIN_REQUIRED") && t.flags.includes("TOKEN_INITIALIZED"));
  assert.equal(KeyUri.parse(t.uri).serial, edge.serial);

  const listed = listKeys({
    ...access,
    uri: KeyUri.parse("pkcs11:token=edge"),
    certificateSpki: a.spki,
  });
  assert.equal(listed.token.label, "edge");
  const byLabel = Object.fromEntries(listed.keys.map((k) => [k.label, k]));
  assert.deepEqual(
    { ...byLabel.a, keyType: undefined },
    {
      label: "a",
      idHex: "aa",
      type: "EC P-384",
      keyType: undefined,
      uri: `pkcs11:token=edge;serial=${edge.serial};object=a;id=%AA;type=private`,
      schemes: ["ecdsa_secp384r1_sha384"],
      matchesCertificate: true,
    },
  );
  assert.equal(byLabel.b.type, "RSA 2048");
  assert.deepEqual(byLabel.b.schemes, [
    "rsa_pss_rsae_sha256",
    "rsa_pss_rsae_sha384",
    "rsa_pss_rsae_sha512",
    "rsa_pkcs1_sha256",
    "rsa_pkcs1_sha384",
    "rsa_pkcs1_sha512",
  ]);
  assert.equal(byLabel.b.matchesCertificate, false);
});
