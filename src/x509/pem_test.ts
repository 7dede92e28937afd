import assert from "node:assert/strict";
import { decodePem, encodePem } from "./pem.ts";

Deno.test("encodePem() and decodePem() round-trip, with text around the blocks", () => {
  const der = new Uint8Array(100).map((_, i) => i * 7);
  const pem = encodePem("CERTIFICATE", der);
  assert.match(pem, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/]{64}\n/);
  const blocks = decodePem(`Bag Attributes\n${pem}junk\n${encodePem("PRIVATE KEY", der)}`);
  assert.deepEqual(blocks.map((b) => b.label), ["CERTIFICATE", "PRIVATE KEY"]);
  assert.deepEqual(blocks[0].der, der);
});

Deno.test("decodePem() reads headers of a legacy encrypted key", () => {
  const text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n" +
    "DEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
  const [block] = decodePem(text);
  assert.equal(block.headers["Proc-Type"], "4,ENCRYPTED");
  assert.deepEqual(block.der, new Uint8Array([0, 1, 2]));
});

Deno.test("decodePem() refuses a block that is not base64", () => {
  assert.throws(
    () => decodePem("-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----"),
    { name: "SyntaxError", message: 'Cannot decode PEM block "CERTIFICATE": invalid base64' },
  );
});
