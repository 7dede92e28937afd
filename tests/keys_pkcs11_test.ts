/**
 * PKCS#11 module mode against SoftHSM, in-process. The module is process-global: SOFTHSM2_CONF
 * is set before each test opens it, every key is closed (finalising the module) before the
 * test ends, and the tests in this file run one after another.
 */
import assert from "node:assert/strict";
import { exitCodeOf, kindOf } from "../src/errors.ts";
import {
  KeyConfigError,
  KeyMismatchError,
  KeyUri,
  openSigningKey,
  PinError,
  Pkcs11Error,
  Secret,
  SignatureScheme,
  SignTimeoutError,
  TokenNotFoundError,
} from "../src/keys/mod.ts";
import { run, tempDir } from "./helpers/process.ts";
import { CKM, mechanismFor, signInput } from "../src/keys/pkcs11/_mechanisms.ts";
import { KEY_KINDS, TestPki } from "./helpers/pki.ts";
import {
  countCalls,
  PKCS11_SPY_MODULE,
  SoftHsm,
  SOFTHSM_MODULE,
  spyEnv,
  type TokenInfo,
} from "./helpers/softhsm.ts";
import { EXPECTED, signingKeyContract, webCryptoVerify } from "./keys_contract.ts";

async function softHsm(dir: string): Promise<SoftHsm> {
  const hsm = await SoftHsm.create(dir);
  Deno.env.set("SOFTHSM2_CONF", hsm.conf);
  return hsm;
}

const pkcs11 = (extra: Record<string, unknown> = {}) => ({
  kind: "pkcs11" as const,
  modulePath: SOFTHSM_MODULE,
  pin: new Secret("1234"),
  ...extra,
});

Deno.test("token keys of every type satisfy the SigningKey contract, chosen by their certificate", async (t) => {
  await using dir = await tempDir();
  const hsm = await softHsm(`${dir.path}/hsm`);
  const pki = await TestPki.create(`${dir.path}/pki`);
  const token = await hsm.initToken("edge");
  const keys = [];
  for (const kind of KEY_KINDS) keys.push(await hsm.importNewKey(token, kind));
  for (const imported of keys) {
    await t.step(`SoftHSM ${imported.kind}`, async (t) => {
      const device = await pki.device(imported.kind, "dev", { publicKeySpki: imported.spki });
      // No URI: one token, and the key whose public key is the certificate's.
      const key = await openSigningKey(pkcs11({ certificateSpki: imported.spki }));
      try {
        assert.match(key.description, new RegExp(`object=${imported.label};id=%`, "i"));
        await signingKeyContract(t, key, {
          certificatePem: device.certPem,
          ...EXPECTED[imported.kind],
        });
      } finally {
        await key.close();
      }
    });
  }
});

Deno.test("RSA PKCS#1 v1.5 (TLS 1.2) signs the same through CKM_SHA256_RSA_PKCS and through CKM_RSA_PKCS with a host DigestInfo", async () => {
  await using dir = await tempDir();
  const hsm = await softHsm(dir.path);
  const token = await hsm.initToken("edge");
  const imported = await hsm.importNewKey(token, "rsa2048", { label: "rsa" });
  const message = new TextEncoder().encode("TLS 1.2 handshake messages");
  // The product: SoftHSM lists CKM_SHA256_RSA_PKCS, so the token hashes.
  const key = await openSigningKey(pkcs11({ certificateSpki: imported.spki }));
  let ours: Uint8Array;
  try {
    ours = await key.chooseScheme([SignatureScheme.rsa_pkcs1_sha256])!.sign(message);
  } finally {
    await key.close();
  }
  // PKCS#1 v1.5 is deterministic: WebCrypto with the same private key gives the same bytes.
  const pkcs1Key = await crypto.subtle.importKey(
    "pkcs8",
    await crypto.subtle.exportKey("pkcs8", imported.keys.privateKey),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const reference = new Uint8Array(
    await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pkcs1Key, message),
  );
  assert.deepEqual(ours, reference);
  // A token with only CKM_RSA_PKCS: the host makes DigestInfo || SHA-256(message), which the
  // token (here through OpenSC's pkcs11-tool, outside our code) signs to the same bytes.
  const fallback = mechanismFor(SignatureScheme.rsa_pkcs1_sha256, new Set([CKM.RSA_PKCS]));
  assert.equal(fallback.mechanism.mechanism, CKM.RSA_PKCS);
  const input = await signInput(fallback, message);
  assert.equal(input.length, 19 + 32);
  await Deno.writeFile(`${dir.path}/in.bin`, input);
  await run("pkcs11-tool", [
    "--module",
    SOFTHSM_MODULE,
    "--token-label",
    "edge",
    "--login",
    "--pin",
    "1234",
    "--sign",
    "--mechanism",
    "RSA-PKCS",
    "--label",
    "rsa",
    "--input-file",
    `${dir.path}/in.bin`,
    "--output-file",
    `${dir.path}/sig.bin`,
  ], { env: hsm.env });
  assert.deepEqual(new Uint8Array(await Deno.readFile(`${dir.path}/sig.bin`)), reference);
  // With CKM_SHA256_RSA_PKCS listed, that one is used and the token gets the whole message.
  const hashing = mechanismFor(SignatureScheme.rsa_pkcs1_sha256, new Set([CKM.RSA_PKCS, 0x40]));
  assert.deepEqual([hashing.mechanism.mechanism, await signInput(hashing, message)], [
    0x40,
    message,
  ]);
});

Deno.test("a token key is selected by URI object or id, and refused when it does not match the certificate", async () => {
  await using dir = await tempDir();
  const hsm = await softHsm(dir.path);
  const token = await hsm.initToken("edge");
  const a = await hsm.importNewKey(token, "p256", { label: "key-a", idHex: "0a" });
  const b = await hsm.importNewKey(token, "p256", { label: "key-b", idHex: "0b" });
  for (
    const uri of ["pkcs11:token=edge;object=key-b", "pkcs11:id=%0b", "pkcs11:object=key-b;id=%0B"]
  ) {
    const key = await openSigningKey(pkcs11({ uri: KeyUri.parse(uri), certificateSpki: b.spki }));
    assert.deepEqual(key.publicKeySpki, b.spki, uri);
    await key.close();
  }
  // Named key, certificate of another key: refused before any signature, naming both.
  await assert.rejects(
    openSigningKey(pkcs11({
      uri: KeyUri.parse("pkcs11:object=key-a"),
      certificateSpki: b.spki,
      certificateName: "/etc/tedge/device-certs/tedge-certificate.pem",
    })),
    (e: unknown) => {
      assert.ok(e instanceof KeyMismatchError);
      assert.equal(exitCodeOf(e), 78);
      assert.match(e.message, /object=key-a/);
      assert.match(e.message, /tedge-certificate\.pem/);
      return true;
    },
  );
  // No name, and no key on the token for this certificate.
  const stranger =
    (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign"])) as CryptoKeyPair;
  const strangerSpki = new Uint8Array(await crypto.subtle.exportKey("spki", stranger.publicKey));
  await assert.rejects(
    openSigningKey(pkcs11({ certificateSpki: strangerSpki, certificateName: "dev.crt" })),
    /any of the 2 private key\(s\) on token "edge"\) does not match the public key of certificate "dev.crt"/,
  );
  // Two keys, no name, no certificate: ask for a name, listing both URIs.
  await assert.rejects(openSigningKey(pkcs11()), (e: unknown) => {
    assert.ok(e instanceof KeyConfigError);
    assert.match(e.message, /^Several private keys found on token "edge"/);
    assert.match(e.message, /object=key-a;id=%0A/);
    assert.match(e.message, /object=key-b;id=%0B/);
    return true;
  });
  await assert.rejects(
    openSigningKey(pkcs11({ uri: KeyUri.parse("pkcs11:object=nope") })),
    /No private key matches "pkcs11:object=nope" on token "edge"/,
  );
  assert.ok(a.spki.length > 0);
});

Deno.test("the token is selected by URI or legacy serial, and several tokens without a selector are refused", async () => {
  await using dir = await tempDir();
  const hsm = await softHsm(dir.path);
  const edge = await hsm.initToken("edge");
  const other = await hsm.initToken("other");
  const kEdge = await hsm.importNewKey(edge, "p256", { label: "k" });
  const kOther = await hsm.importNewKey(other, "ed25519", { label: "k" });
  await assert.rejects(openSigningKey(pkcs11()), (e: unknown) => {
    assert.ok(e instanceof KeyConfigError);
    assert.equal(exitCodeOf(e), 78);
    assert.match(e.message, /Several tokens found/);
    const tokenUri = (t: TokenInfo) =>
      `pkcs11:token=${t.label};manufacturer=SoftHSM%20project;serial=${t.serial};model=SoftHSM%20v2`;
    assert.ok(e.message.includes(tokenUri(edge)), e.message);
    assert.ok(e.message.includes(tokenUri(other)), e.message);
    return true;
  });
  const cases: [Record<string, unknown>, Uint8Array][] = [
    [{ uri: KeyUri.parse("pkcs11:token=other;object=k") }, kOther.spki],
    [{ uri: KeyUri.parse(`pkcs11:serial=${edge.serial}`) }, kEdge.spki],
    [{ serial: other.serial }, kOther.spki],
    [{ serial: edge.serial, uri: KeyUri.parse("pkcs11:object=k") }, kEdge.spki],
    [{ uri: KeyUri.parse("pkcs11:model=SoftHSM%20v2;token=other") }, kOther.spki],
  ];
  for (const [opts, spki] of cases) {
    const key = await openSigningKey(pkcs11(opts));
    assert.deepEqual(key.publicKeySpki, spki, JSON.stringify(opts));
    await key.close();
  }
  await assert.rejects(
    openSigningKey(
      pkcs11({ serial: edge.serial, uri: KeyUri.parse(`pkcs11:serial=${other.serial}`) }),
    ),
    /contradicts serial/,
  );
  await assert.rejects(
    openSigningKey(pkcs11({ uri: KeyUri.parse("pkcs11:token=gone") })),
    (e: unknown) => {
      assert.ok(e instanceof TokenNotFoundError);
      assert.equal(kindOf(e), undefined);
      assert.match(
        e.message,
        /No token matches "pkcs11:token=gone".*may be disconnected.*token=edge/,
      );
      return true;
    },
  );
});

Deno.test("a missing module, an empty token directory and unsupported URI options get clear errors", async () => {
  await using dir = await tempDir();
  await softHsm(dir.path);
  await assert.rejects(openSigningKey(pkcs11({ modulePath: "/usr/lib/x.so" })), (e: unknown) => {
    assert.ok(e instanceof Pkcs11Error);
    assert.equal(exitCodeOf(e), 78);
    assert.equal(e.message, `Cannot load PKCS#11 module "/usr/lib/x.so": file not found`);
    return true;
  });
  await assert.rejects(
    openSigningKey(pkcs11()),
    new RegExp(
      `^TokenNotFoundError: No token found in PKCS#11 module "${SOFTHSM_MODULE}": the device may be disconnected$`,
    ),
  );
  const refused: [string, RegExp][] = [
    ["pkcs11:object=k?pin-source=file:/etc/pin", /uses pin-source, which hsm-bridge does not read/],
    ["pkcs11:object=k;type=cert", /names an object of type "cert": a signing key is type=private/],
    [
      "pkcs11:object=k?module-path=/usr/lib/other.so",
      /names module-path "\/usr\/lib\/other.so" but the configured module is/,
    ],
  ];
  for (const [uri, re] of refused) {
    await assert.rejects(openSigningKey(pkcs11({ uri: KeyUri.parse(uri) })), (e: unknown) => {
      assert.ok(e instanceof KeyConfigError, uri);
      assert.match(e.message, re);
      return true;
    });
  }
});

async function spied(dir: string): Promise<{ hsm: SoftHsm; token: TokenInfo; log: string }> {
  const hsm = await softHsm(dir);
  const token = await hsm.initToken("edge");
  await hsm.importNewKey(token, "p256", { label: "k" });
  const log = `${dir}/spy.log`;
  for (const [k, v] of Object.entries(spyEnv(hsm, log))) Deno.env.set(k, v);
  return { hsm, token, log };
}

Deno.test("a wrong PIN is tried once per process, even when the key is opened again", async () => {
  await using dir = await tempDir();
  const { token, log } = await spied(dir.path);
  const opts = { ...pkcs11({ pin: new Secret("0000") }), modulePath: PKCS11_SPY_MODULE };
  try {
    await assert.rejects(openSigningKey(opts), (e: unknown) => {
      assert.ok(e instanceof PinError);
      assert.equal(exitCodeOf(e), 78);
      assert.equal(e.rv?.name, "CKR_PIN_INCORRECT");
      assert.match(
        e.message,
        new RegExp(
          `^Wrong PIN for token "edge" \\(serial ${token.serial}\\): C_Login returned CKR_PIN_INCORRECT; the token reports few tries left; set the right PIN`,
        ),
      );
      assert.doesNotMatch(e.message, /0000/);
      return true;
    });
    await assert.rejects(openSigningKey(opts), (e: unknown) => {
      assert.ok(e instanceof PinError);
      assert.match(e.message, /not tried again in this process/);
      return true;
    });
    assert.equal(await countCalls(log, "C_Login"), 1);
    // The right PIN still works; precedence: pin-value in the URI wins over the configured PIN.
    const key = await openSigningKey({
      ...opts,
      uri: KeyUri.parse("pkcs11:object=k?pin-value=1234"),
    });
    await key.chooseScheme([0x0403])!.sign(new Uint8Array(10));
    await key.close();
    assert.equal(await countCalls(log, "C_Login"), 2);
  } finally {
    for (const k of ["PKCS11SPY", "PKCS11SPY_OUTPUT"]) Deno.env.delete(k);
  }
});

Deno.test("a signature slower than the timeout fails without blocking, and the key signs again afterwards", async () => {
  await using dir = await tempDir();
  const hsm = await softHsm(dir.path);
  const token = await hsm.initToken("edge");
  const imported = await hsm.importNewKey(token, "ed25519", { label: "k" });
  // SoftHSM needs ~250 ms for Ed25519 over 32 MiB and ~1 ms for a short message here.
  const key = await openSigningKey(pkcs11({ signTimeoutMs: 50 }));
  try {
    const signer = key.chooseScheme([SignatureScheme.ed25519])!;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const slow = signer.sign(new Uint8Array(32 << 20));
    const short = new Uint8Array(8);
    const next = signer.sign(short);
    await assert.rejects(slow, (e: unknown) => {
      assert.ok(e instanceof SignTimeoutError, String(e));
      assert.match(e.message, /did not answer within 50 ms/);
      return true;
    });
    // Queued behind it: no Cryptoki call is made while the slow C_Sign still runs. Whether the
    // slow one ends within this one's own 50 ms decides between "signed" and "still busy".
    await next.then(
      async (signature) =>
        assert.ok(await webCryptoVerify(imported.spki, SignatureScheme.ed25519, short, signature)),
      (e) =>
        assert.match(String(e), /SignTimeoutError: .*still busy with a signature that timed out/),
    );
    clearInterval(ticker);
    assert.ok(ticks >= 5, `the event loop was blocked (${ticks} ticks)`);
    await new Promise((r) => setTimeout(r, 600));
    const message = new TextEncoder().encode("after the timeout");
    assert.ok(
      await webCryptoVerify(
        imported.spki,
        SignatureScheme.ed25519,
        message,
        await signer.sign(message),
      ),
    );
  } finally {
    await key.close();
  }
});
