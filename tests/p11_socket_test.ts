/**
 * Our socket client against our p11-server over a real Unix socket, the server holding SoftHSM
 * keys of every type (in this process: the module is process-global, so SOFTHSM2_CONF is set
 * before each server starts and every server is stopped, finalising the module, before its
 * test ends). The client side loads no module.
 */
import assert from "node:assert/strict";
import { exitCodeOf } from "../src/errors.ts";
import {
  createKeyThrough,
  decodePem,
  encodeFrame,
  KeyUri,
  listKeysThrough,
  listTokensThrough,
  openSocketKey,
  P11Client,
  P11ServerError,
  parseSpki,
  Secret,
  SignatureScheme as S,
} from "../mod.ts";
import { startP11Server } from "../src/p11_server/mod.ts";
import { tempDir } from "./helpers/process.ts";
import { KEY_KINDS, TestPki } from "./helpers/pki.ts";
import {
  countCalls,
  PKCS11_SPY_MODULE,
  SoftHsm,
  SOFTHSM_MODULE,
  spyEnv,
} from "./helpers/softhsm.ts";
import { EXPECTED, signingKeyContract, webCryptoVerify } from "./keys_contract.ts";

const PIN = "1234";

async function setup(dir: string, opts: { spyLog?: string; uri?: string } = {}) {
  const hsm = await SoftHsm.create(`${dir}/hsm`);
  const env = opts.spyLog ? spyEnv(hsm, opts.spyLog) : hsm.env;
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  const token = await hsm.initToken("edge", { pin: PIN });
  const socketPath = `${dir}/run/p11.sock`;
  const server = await startP11Server({
    socketPath,
    modulePath: opts.spyLog ? PKCS11_SPY_MODULE : SOFTHSM_MODULE,
    pin: new Secret(PIN),
    uri: opts.uri ? KeyUri.parse(opts.uri) : undefined,
  });
  const client = new P11Client({ socketPath });
  return { hsm, token, server, socketPath, client };
}

Deno.test("socket keys of every type satisfy the SigningKey contract through hsm-bridge p11-server", async (t) => {
  await using dir = await tempDir();
  const { hsm, token, server, socketPath } = await setup(dir.path);
  const pki = await TestPki.create(`${dir.path}/pki`);
  try {
    for (const kind of KEY_KINDS) {
      const imported = await hsm.importNewKey(token, kind, { label: `key-${kind}` });
      await t.step(`SoftHSM ${kind}`, async (t) => {
        const device = await pki.device(kind, "dev", { publicKeySpki: imported.spki });
        // The client sends no PIN: the server's own (its --pin) logs in.
        const key = await openSocketKey({
          socketPath,
          uri: KeyUri.parse(imported.uri),
          certificateSpki: imported.spki,
        });
        try {
          assert.match(key.description, /through tedge-p11-server/);
          // One scheme each: the one SignRequestWithSigScheme can name (RSA: PSS-SHA256).
          await signingKeyContract(t, key, {
            certificatePem: device.certPem,
            schemes: EXPECTED[kind].schemes.slice(0, 1),
            keyType: EXPECTED[kind].keyType,
          });
        } finally {
          await key.close();
        }
      });
    }
  } finally {
    await server.stop();
  }
});

Deno.test("the server answers tedge's own requests: SignRequest without a scheme, tedge's CSR offer, empty offers", async () => {
  await using dir = await tempDir();
  const { hsm, token, server, client } = await setup(dir.path);
  try {
    const ec = await hsm.importNewKey(token, "p384", { label: "ec" });
    const rsa = await hsm.importNewKey(token, "rsa2048", { label: "rsa" });
    // SignRequest (tag 2, what tedge's TLS signer sends): the key's default scheme.
    const message = new TextEncoder().encode("tedge handshake");
    const sig = await client.request(
      { type: "SignRequest", toSign: message, uri: ec.uri, pin: new Secret(PIN) },
      "SignResponse",
    );
    assert.ok(await webCryptoVerify(ec.spki, S.ecdsa_secp384r1_sha384, message, sig.signature));
    const rsaSig = await client.request(
      { type: "SignRequest", toSign: message, uri: rsa.uri },
      "SignResponse",
    );
    assert.ok(await webCryptoVerify(rsa.spki, S.rsa_pss_rsae_sha256, message, rsaSig.signature));
    // ChooseScheme: algorithm codes as rustls (ECDSA 3, RSA 1).
    assert.deepEqual(
      await client.chooseScheme(
        [S.rsa_pss_rsae_sha256, S.ecdsa_secp384r1_sha384],
        ec.uri,
        undefined,
      ),
      { type: "ChooseSchemeResponse", scheme: S.ecdsa_secp384r1_sha384, algorithm: 3 },
    );
    assert.deepEqual(
      await client.chooseScheme(
        [S.ecdsa_secp256r1_sha256, S.rsa_pss_rsae_sha256],
        rsa.uri,
        undefined,
      ),
      { type: "ChooseSchemeResponse", scheme: S.rsa_pss_rsae_sha256, algorithm: 1 },
    );
    // tedge's cert create-csr offers P-256, P-384 and rsa_pkcs1_sha256: an RSA key signs RSA
    // PKCS#1 v1.5 (which TLS 1.2 may also ask for), after PSS when PSS is offered.
    assert.deepEqual(
      await client.chooseScheme(
        [S.ecdsa_secp256r1_sha256, S.ecdsa_secp384r1_sha384, S.rsa_pkcs1_sha256],
        rsa.uri,
        undefined,
      ),
      { type: "ChooseSchemeResponse", scheme: S.rsa_pkcs1_sha256, algorithm: 1 },
    );
    const pkcs1 = await client.sign(message, rsa.uri, S.rsa_pkcs1_sha256, undefined);
    assert.ok(await webCryptoVerify(rsa.spki, S.rsa_pkcs1_sha256, message, pkcs1));
    // An offer the key can make nothing of: it says why not.
    await assert.rejects(
      client.chooseScheme([S.ecdsa_secp256r1_sha256, S.ecdsa_secp384r1_sha384], rsa.uri, undefined),
      /refused ChooseSchemeRequest: PKCS #11 service failed: failed to choose scheme: .* signs with rsa_pss_rsae_sha256, rsa_pss_rsae_sha384, rsa_pss_rsae_sha512, rsa_pkcs1_sha256, rsa_pkcs1_sha384, rsa_pkcs1_sha512; the client offered ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384/,
    );
    await assert.rejects(
      client.sign(message, ec.uri, S.rsa_pkcs1_sha256, undefined),
      /cannot sign with rsa_pkcs1_sha256 \(it signs with ecdsa_secp384r1_sha384/,
    );
    await assert.rejects(client.chooseScheme([], ec.uri, undefined), /the client offered nothing/);
    // A key that is not there.
    await assert.rejects(
      client.sign(message, "pkcs11:token=edge;object=nope", S.ecdsa_secp256r1_sha256, undefined),
      /PKCS #11 service failed: No private key matches "pkcs11:token=edge;object=nope"/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("public key, create key, list tokens and keys through the socket", async () => {
  await using dir = await tempDir();
  const { hsm, token, server, client } = await setup(dir.path);
  try {
    const imported = await hsm.importNewKey(token, "p256", { label: "imported", idHex: "0a" });
    // The public key as tedge-p11-server sends it: the bare EC point in a PUBLIC KEY block.
    const pem = await client.publicKeyPem(imported.uri);
    const bits = decodePem(pem)[0].der;
    assert.equal(bits.length, 65);
    assert.equal(bits[0], 0x04);

    const access = { client, uri: KeyUri.parse("pkcs11:token=edge"), pin: new Secret(PIN) };
    const created = [];
    for (
      const [spec, label] of [
        [{ type: "ecdsa", curve: "P-256" }, "gen-p256"],
        [{ type: "ecdsa", curve: "P-384" }, "gen-p384"],
        [{ type: "rsa", bits: 2048 }, "gen-rsa"],
      ] as const
    ) {
      const id = Uint8Array.of(0x10 + created.length);
      const key = await createKeyThrough(access, spec, { label, id });
      assert.deepEqual(key.id, id);
      assert.equal(key.label, label);
      assert.equal(key.uri.object, label);
      assert.deepEqual(parseSpki(key.publicKeySpki).keyType, key.keyType);
      created.push(key);
    }
    // The new keys sign through the socket.
    for (const key of created) {
      const socketKey = await openSocketKey({
        socketPath: client.socketPath,
        uri: key.uri,
        pin: new Secret(PIN),
        certificateSpki: key.publicKeySpki,
      });
      const signer = socketKey.chooseScheme(socketKey.schemes)!;
      const message = crypto.getRandomValues(new Uint8Array(50));
      assert.ok(
        await webCryptoVerify(
          key.publicKeySpki,
          signer.scheme,
          message,
          await signer.sign(message),
        ),
      );
      await socketKey.close();
    }
    // CreateKey refuses what tedge-p11-server refuses.
    await assert.rejects(
      client.createKey({ uri: "pkcs11:token=edge", key: { kind: "ec", curve: 521 }, label: "x" }),
      /Invalid EC curve value 521: only P256\/P384 valid/,
    );
    await assert.rejects(
      createKeyThrough(access, { type: "ecdsa", curve: "P-256" }, { label: "imported" }),
      /A private key with label "imported" already exists/,
    );

    const tokens = await listTokensThrough(access);
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0].label, "edge");
    assert.equal(tokens[0].serial, token.serial);
    assert.equal(tokens[0].model, "SoftHSM v2");
    assert.deepEqual(tokens[0].flags, ["TOKEN_INITIALIZED"]);
    assert.deepEqual(await client.tokenUris(), [tokens[0].uri]);

    const listed = await listKeysThrough(access, imported.spki);
    assert.equal(listed.token.serial, token.serial);
    const byLabel = new Map(listed.keys.map((k) => [k.label, k]));
    assert.deepEqual([...byLabel.keys()].sort(), ["gen-p256", "gen-p384", "gen-rsa", "imported"]);
    assert.equal(byLabel.get("imported")!.type, "EC P-256");
    assert.equal(byLabel.get("imported")!.idHex, "0a");
    assert.equal(byLabel.get("imported")!.matchesCertificate, true);
    assert.deepEqual(byLabel.get("imported")!.schemes, ["ecdsa_secp256r1_sha256"]);
    assert.equal(byLabel.get("gen-rsa")!.type, "RSA 2048");
    assert.deepEqual(byLabel.get("gen-rsa")!.schemes, ["rsa_pss_rsae_sha256"]);
    assert.equal(byLabel.get("gen-p384")!.matchesCertificate, false);
    // The raw ListKeysResponse, as tedge's `hsm list-keys` reads it.
    const raw = await client.listKeys("pkcs11:token=edge", new Secret(PIN));
    assert.deepEqual(
      raw.filter((k) => k.label === "imported").map((k) => [k.class, k.keyType, k.id]),
      [["private", "EC", "0a"]],
    );
  } finally {
    await server.stop();
  }
});

Deno.test("the server tries a wrong PIN once; the client reports it as a credential error", async () => {
  await using dir = await tempDir();
  const spyLog = `${dir.path}/spy.log`;
  const { hsm, token, server, client } = await setup(dir.path, { spyLog });
  try {
    const key = await hsm.importNewKey(token, "p256", { label: "k" });
    const wrong = new Secret("999999");
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        client.chooseScheme([S.ecdsa_secp256r1_sha256], key.uri, wrong),
        (e: unknown) => {
          assert.ok(e instanceof P11ServerError);
          assert.equal(exitCodeOf(e), 78);
          assert.match(e.message, /Wrong PIN for token "edge" .*CKR_PIN_INCORRECT/);
          if (i > 0) assert.match(e.message, /not tried again in this process/);
          assert.doesNotMatch(e.message, /999999/);
          return true;
        },
      );
    }
    assert.equal(await countCalls(spyLog, "C_Login"), 1, "the wrong PIN met C_Login once");
    // The right PIN still works, and a key opened with it is not reachable with the wrong one.
    const right = await client.chooseScheme([S.ecdsa_secp256r1_sha256], key.uri, new Secret(PIN));
    assert.equal(right.scheme, S.ecdsa_secp256r1_sha256);
    await assert.rejects(
      client.sign(new Uint8Array(8), key.uri, S.ecdsa_secp256r1_sha256, wrong),
      /Wrong PIN/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("the server's --uri filters every request, as tedge-p11-server's device.cryptoki.uri", async () => {
  await using dir = await tempDir();
  const { hsm, token, server, client } = await setup(dir.path, {
    uri: "pkcs11:token=edge;object=allowed",
  });
  try {
    const allowed = await hsm.importNewKey(token, "p256", { label: "allowed" });
    await hsm.importNewKey(token, "p384", { label: "other" });
    // The request names the other key; the server's object= wins.
    const key = await openSocketKey({
      socketPath: client.socketPath,
      uri: KeyUri.parse("pkcs11:object=other"),
    });
    assert.deepEqual(key.publicKeySpki, allowed.spki);
    await key.close();
    // A Ping needs no token at all.
    const pong = await Deno.connect({ transport: "unix", path: client.socketPath });
    await pong.write(encodeFrame({ type: "Ping" }));
    await pong.closeWrite();
    const answer = new Uint8Array(8);
    assert.equal(await pong.read(answer), 2);
    assert.deepEqual([...answer.subarray(0, 2)], [0, 9]);
    pong.close();
  } finally {
    await server.stop();
  }
});
