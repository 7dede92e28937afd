/**
 * The choice of AEAD backend: libcrypto where it loads and passes the self-test, else
 * node:crypto, silently but for a debug line; and records that do not depend on the choice.
 */

import assert from "node:assert/strict";
import { getLogLevel, setLogLevel, setLogSink } from "../../log.ts";
import {
  aeadBackend,
  type AeadBackendOptions,
  loadAeadBackend,
  NO_LIBCRYPTO_ENV,
} from "./aead_backend.ts";
import { CIPHER_SUITES } from "../cipher_suites.ts";
import { toHex } from "../codec.ts";
import { ContentType } from "./record.ts";
import { RecordDecrypter, RecordEncrypter } from "./record_protection.ts";

/** loadAeadBackend() with the debug lines it logs. */
function load(options?: AeadBackendOptions) {
  const lines: string[] = [];
  const level = getLogLevel();
  const sink = setLogSink((line) => lines.push(line));
  setLogLevel("debug");
  try {
    return { backend: loadAeadBackend(options), lines };
  } finally {
    setLogLevel(level);
    setLogSink(sink);
  }
}

Deno.test("aeadBackend() uses the system's libcrypto, which this machine has", () => {
  if (Deno.env.get(NO_LIBCRYPTO_ENV) === "1") return; // forced fallback: nothing to check
  assert.equal(aeadBackend().name, "libcrypto");
  const { backend, lines } = load();
  assert.equal(backend.name, "libcrypto");
  assert.match(lines.join("\n"), /AEAD on libcrypto .*suites=AES-128-GCM,AES-256-GCM,ChaCha20/);
  for (const suite of CIPHER_SUITES) {
    const aead = backend.create(suite, new Uint8Array(suite.keyLength), "seal");
    assert.equal(aead.backend, "libcrypto");
    aead.dispose();
  }
});

Deno.test("loadAeadBackend() falls back to node:crypto when the library cannot be loaded", () => {
  for (const libraryPath of ["/nonexistent/libcrypto.so.3", "libc.so.6"]) {
    const { backend, lines } = load({ libraryPath, disabled: false });
    assert.equal(backend.name, "node:crypto", libraryPath);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /DEBUG tls: AEAD on node:crypto: cannot use libcrypto/);
    assert.ok(lines[0].includes(libraryPath));
    const aead = backend.create(CIPHER_SUITES[0], new Uint8Array(16), "open");
    assert.equal(aead.backend, "node:crypto");
  }
});

Deno.test("loadAeadBackend() falls back to node:crypto when told to, or with HSM_BRIDGE_NO_LIBCRYPTO=1", () => {
  assert.equal(load({ disabled: true }).backend.name, "node:crypto");
  const previous = Deno.env.get(NO_LIBCRYPTO_ENV);
  Deno.env.set(NO_LIBCRYPTO_ENV, "1");
  try {
    const { backend, lines } = load();
    assert.equal(backend.name, "node:crypto");
    assert.match(lines[0], /libcrypto disabled by HSM_BRIDGE_NO_LIBCRYPTO/);
  } finally {
    if (previous === undefined) Deno.env.delete(NO_LIBCRYPTO_ENV);
    else Deno.env.set(NO_LIBCRYPTO_ENV, previous);
  }
});

Deno.test("records are the same bytes whichever backend seals or opens them", () => {
  const node = load({ disabled: true }).backend;
  const ffi = load().backend;
  for (const suite of CIPHER_SUITES) {
    const keys = () => ({
      key: new Uint8Array(suite.keyLength).fill(suite.code & 0xff),
      iv: new Uint8Array(12).fill(7),
    });
    const sealers = [
      RecordEncrypter.fromKeys(suite, keys(), node),
      RecordEncrypter.fromKeys(suite, keys(), ffi),
    ];
    const openers = [
      RecordDecrypter.fromKeys(suite, keys(), node),
      RecordDecrypter.fromKeys(suite, keys(), ffi),
    ];
    for (const size of [0, 1, 100, 4096, 16384]) {
      const content = new Uint8Array(size).map((_, i) => i & 0xff);
      const [a, b] = sealers.map((e) => e.sealRecord(ContentType.application_data, content));
      assert.equal(toHex(a), toHex(b), `${suite.name} ${size} B`);
      for (const [d, rec] of [[openers[0], b], [openers[1], a]] as const) {
        const opened = d.open(rec.subarray(0, 5), rec.subarray(5));
        assert.equal(opened.type, ContentType.application_data);
        assert.equal(toHex(opened.content), toHex(content));
      }
    }
    for (const c of [...sealers, ...openers]) c.dispose();
  }
});
