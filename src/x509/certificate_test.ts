import assert from "node:assert/strict";
import { exitCodeOf } from "../errors.ts";
import {
  CertificateError,
  CertificateFileError,
  certificateMatchesPublicKey,
  commonName,
  derOf,
  encodePem,
  loadCertificateFile,
  parseCertificate,
  parseCertificateChainPem,
  spkiOf,
} from "./mod.ts";
import { issue } from "./_test_pki.ts";
import { children, encodeTlv, readOne } from "./der.ts";

const pem = (der: Uint8Array) => encodePem("CERTIFICATE", der);

Deno.test("parseCertificateChainPem() keeps order, skips other blocks, refuses no certificate", async () => {
  const a = await issue({ subject: "CN=device-1, O=Acme" });
  const b = await issue({ subject: "CN=Device CA", slot: 2 });
  const text = `Bag Attributes\n${pem(a.der)}${encodePem("PRIVATE KEY", new Uint8Array(4))}${
    pem(b.der)
  }`;
  const certs = parseCertificateChainPem(text);
  assert.deepEqual(certs.map((c) => c.subject), ["CN=device-1, O=Acme", "CN=Device CA"]);
  assert.deepEqual(derOf(certs[1]), b.der);
  assert.throws(() => parseCertificateChainPem(encodePem("PRIVATE KEY", new Uint8Array(4))), {
    name: "SyntaxError",
    message: "No PEM certificate found",
  });
  assert.throws(() => parseCertificateChainPem(pem(a.der) + pem(a.der.subarray(0, 50))), {
    name: "SyntaxError",
    message: "Cannot decode certificate 2 of 2: element longer than its container",
  });
});

Deno.test("commonName(), spkiOf() and certificateMatchesPublicKey() read the certificate", async () => {
  const a = await issue({ subject: "CN=device-1, O=Acme", slot: 5 });
  assert.equal(commonName(a.cert), "device-1");
  assert.equal(commonName((await issue({ subject: "O=No CN", slot: 5 })).cert), undefined);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", a.keys.publicKey));
  assert.deepEqual(spkiOf(a.cert), spki);
  assert.equal(certificateMatchesPublicKey(a.cert, spki), true);
  const other = await issue({ subject: "CN=other", slot: 6 });
  assert.equal(certificateMatchesPublicKey(a.cert, spkiOf(other.cert)), false);
  // The answer is a copy: changing it does not change the certificate.
  spkiOf(a.cert)[0] ^= 0xff;
  assert.deepEqual(spkiOf(a.cert), spki);
});

Deno.test("loadCertificateFile() reads a chain file and names the file in errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "x509-cert-" });
  try {
    const a = await issue({ subject: "CN=device-1" });
    await Deno.writeTextFile(`${dir}/chain.pem`, pem(a.der) + pem(a.der));
    assert.equal((await loadCertificateFile(`${dir}/chain.pem`)).length, 2);
    await assert.rejects(loadCertificateFile(`${dir}/nope.pem`), {
      name: "CertificateFileError",
      message: `Cannot read certificate file "${dir}/nope.pem": file not found`,
    });
    await Deno.writeTextFile(`${dir}/key.pem`, encodePem("PRIVATE KEY", new Uint8Array(4)));
    const err = await loadCertificateFile(`${dir}/key.pem`).catch((e) => e);
    assert.ok(err instanceof CertificateFileError);
    assert.equal(exitCodeOf(err), 78);
    assert.equal(
      err.message,
      `Cannot use certificate file "${dir}/key.pem": no PEM certificate in it`,
    );
    await Deno.writeTextFile(
      `${dir}/b64.pem`,
      "-----BEGIN CERTIFICATE-----\n@@\n-----END CERTIFICATE-----\n",
    );
    await assert.rejects(loadCertificateFile(`${dir}/b64.pem`), {
      message:
        `Cannot use certificate file "${dir}/b64.pem": cannot decode PEM block "CERTIFICATE": invalid base64`,
    });
    await assert.rejects(loadCertificateFile(dir), {
      message: `Cannot read certificate file "${dir}": is a directory`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Re-encodes a certificate with `edit` applied to its TBS elements (signature left as is). */
function rebuild(der: Uint8Array, edit: (tbs: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const top = readChildren(der);
  const newTbs = encodeTlv(0x30, ...edit(readChildren(top[0])));
  return encodeTlv(0x30, newTbs, top[1], top[2]);
}

function readChildren(der: Uint8Array): Uint8Array[] {
  return children(readOne(der)).map((t) => t.bytes);
}

Deno.test("parseCertificate() is strict about DER and RFC 5280 structure", async () => {
  const a = await issue({ subject: "CN=strict" });
  const fails = (der: Uint8Array, reason: string) =>
    assert.throws(() => parseCertificate(der, "the test"), (e) => {
      assert.ok(e instanceof CertificateError);
      assert.equal(e.alert, "decode_error");
      assert.equal(e.message, `Certificate the test cannot be decoded: ${reason}`);
      return true;
    });
  fails(new Uint8Array([...a.der, 0]), "trailing bytes after element");
  fails(a.der.subarray(0, a.der.length - 1), "element longer than its container");
  const indefinite = a.der.slice();
  indefinite[1] = 0x80;
  fails(indefinite, "indefinite length is not DER");
  // tbs[2] is the inner signature algorithm: make it differ from the outer one.
  fails(
    rebuild(
      a.der,
      (
        t,
      ) => [
        t[0],
        t[1],
        encodeTlv(0x30, new Uint8Array([6, 3, 0x2b, 0x65, 0x70])),
        ...t.slice(3),
      ],
    ),
    "signatureAlgorithm differs from the signed TBSCertificate signature field",
  );
  // A version 1 certificate (no [0] version) that carries extensions.
  fails(rebuild(a.der, (t) => t.slice(1)), "extensions in a version 1 or 2 certificate");
  // The same extension twice.
  fails(
    rebuild(a.der, (t) => {
      const exts = readChildren(readChildren(t[t.length - 1])[0]);
      const seq = encodeTlv(0x30, ...exts, exts[0]);
      return [...t.slice(0, -1), encodeTlv(0xa3, seq)];
    }),
    "duplicate extension 2.5.29.19",
  );
});
