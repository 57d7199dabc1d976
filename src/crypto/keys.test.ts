import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { RotaError } from "../errors.ts";
import { freshKey, generateKeyPem, KEY_TYPES, keyTypeOf, loadKey, loadOrCreateKey, replaceKey } from "./keys.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-keys-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (p: string) => statSync(p).mode & 0o777;

describe("generateKeyPem / keyTypeOf", () => {
  for (const type of KEY_TYPES) {
    test(`${type} round-trips as PKCS#8`, () => {
      const pem = generateKeyPem(type);
      expect(pem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
      expect(keyTypeOf(pem)).toBe(type);
    });
  }

  test("other encodings of a supported key are recognised", () => {
    const sec1 = createPrivateKey(generateKeyPem("ecdsa-p256")).export({ type: "sec1", format: "pem" }).toString();
    expect(sec1).toContain("BEGIN EC PRIVATE KEY");
    expect(keyTypeOf(sec1)).toBe("ecdsa-p256");
  });

  test("unparseable and unsupported keys are null", () => {
    expect(keyTypeOf("not a key")).toBeNull();
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(keyTypeOf(ed)).toBeNull();
  });
});

describe("loadOrCreateKey", () => {
  test("creates the key 0600 in a new 0700 folder, then reuses it", () => {
    const path = join(dir, "certs", "a", "key.pem");
    const first = loadOrCreateKey(path, "ecdsa-p256");
    expect(first).toMatchObject({ created: true, replaced: false });
    expect(readFileSync(path, "utf8")).toBe(first.pem);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(join(dir, "certs", "a"))).toBe(0o700);

    const again = loadOrCreateKey(path, "ecdsa-p256");
    expect(again).toEqual({ pem: first.pem, created: false, replaced: false });
  });

  test("tightens a key file readable by others", () => {
    const path = join(dir, "key.pem");
    writeFileSync(path, generateKeyPem("ecdsa-p256"), { mode: 0o644 });
    chmodSync(path, 0o644);
    loadOrCreateKey(path, "ecdsa-p256");
    expect(modeOf(path)).toBe(0o600);
  });

  test("returns PKCS#8 for a key stored in another encoding, leaving the file alone", () => {
    const path = join(dir, "key.pem");
    const pkcs8 = generateKeyPem("rsa-2048");
    const pkcs1 = createPrivateKey(pkcs8).export({ type: "pkcs1", format: "pem" }).toString();
    writeFileSync(path, pkcs1, { mode: 0o600 });
    const loaded = loadOrCreateKey(path, "rsa-2048");
    expect(loaded).toEqual({ pem: pkcs8, created: false, replaced: false });
    expect(readFileSync(path, "utf8")).toBe(pkcs1);
  });

  test("refuses a file that is not a private key and does not touch it", () => {
    const path = join(dir, "key.pem");
    const content = "-----BEGIN CERTIFICATE-----\nc2VjcmV0LWxvb2tpbmctYnl0ZXM=\n-----END CERTIFICATE-----\n";
    writeFileSync(path, content, { mode: 0o640 });
    let err: unknown;
    try {
      loadOrCreateKey(path, "ecdsa-p256");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).code).toBe("key_invalid");
    expect((err as RotaError).message).toStartWith(`key: ${path} is not a private key`);
    expect((err as RotaError).message).not.toContain("c2VjcmV0");
    expect(readFileSync(path, "utf8")).toBe(content);
  });

  test("replaces a key of another type, keeping the old one as .old", () => {
    const path = join(dir, "key.pem");
    const old = generateKeyPem("rsa-2048");
    writeFileSync(path, old, { mode: 0o600 });
    const loaded = loadOrCreateKey(path, "ecdsa-p384");
    expect(loaded.created).toBe(true);
    expect(loaded.replaced).toBe(true);
    expect(keyTypeOf(loaded.pem)).toBe("ecdsa-p384");
    expect(readFileSync(path, "utf8")).toBe(loaded.pem);
    expect(readFileSync(`${path}.old`, "utf8")).toBe(old);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(`${path}.old`)).toBe(0o600);
  });
});

describe("key rotation: freshKey, then replaceKey", () => {
  test("freshKey leaves the file alone; replaceKey keeps the old key as .old, both 0600", () => {
    const path = join(dir, "key.pem");
    const old = loadOrCreateKey(path, "ecdsa-p256").pem;
    const { pem: fresh, replacing } = freshKey(path, "ecdsa-p384");
    expect(replacing).toBe(true);
    expect(keyTypeOf(fresh)).toBe("ecdsa-p384");
    expect(readFileSync(path, "utf8")).toBe(old);

    replaceKey(path, fresh);
    expect(readFileSync(path, "utf8")).toBe(fresh);
    expect(readFileSync(`${path}.old`, "utf8")).toBe(old);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(`${path}.old`)).toBe(0o600);
  });

  test("a first key needs no .old", () => {
    const path = join(dir, "new", "key.pem");
    const { pem: fresh, replacing } = freshKey(path, "ecdsa-p256");
    expect(replacing).toBe(false);
    replaceKey(path, fresh);
    expect(readFileSync(path, "utf8")).toBe(fresh);
    expect(() => statSync(`${path}.old`)).toThrow();
    expect(modeOf(join(dir, "new"))).toBe(0o700);
  });

  test("freshKey refuses to rotate away a file that is not a private key", () => {
    const path = join(dir, "key.pem");
    writeFileSync(path, "not a key", { mode: 0o600 });
    expect(() => freshKey(path, "ecdsa-p256")).toThrow(`key: ${path} is not a private key`);
  });
});

describe("loadKey (cluster mode): reads, never writes", () => {
  /** Every file under `dir` with its mode and content: what a call must leave as it found it. */
  const snapshot = () =>
    readdirSync(dir, { recursive: true, encoding: "utf8" })
      .sort()
      .map((n) => [n, modeOf(join(dir, n)), statSync(join(dir, n)).isFile() ? readFileSync(join(dir, n), "utf8") : null]);

  function refusal(path: string, type: "ecdsa-p256" | "ecdsa-p384"): RotaError {
    const before = snapshot();
    let err: unknown;
    try {
      loadKey(path, type);
    } catch (e) {
      err = e;
    }
    expect(snapshot()).toEqual(before);
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).noRetry).toBe(true);
    return err as RotaError;
  }

  test("the key as PKCS#8, its file and a loose mode left alone", () => {
    const path = join(dir, "www.key");
    const pkcs8 = generateKeyPem("ecdsa-p256");
    writeFileSync(path, createPrivateKey(pkcs8).export({ type: "sec1", format: "pem" }).toString(), { mode: 0o644 });
    chmodSync(path, 0o644);
    const before = snapshot();
    expect(loadKey(path, "ecdsa-p256")).toBe(pkcs8);
    expect(snapshot()).toEqual(before);
  });

  test("missing: key_missing, nothing generated, no folder made", () => {
    const path = join(dir, "keys", "www.key");
    const err = refusal(path, "ecdsa-p256");
    expect(err.code).toBe("key_missing");
    expect(err.message).toBe(`key: ${path} does not exist; in cluster mode rota never generates a key: copy the cert's key to every node`);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("another type: key_mismatch naming both types, nothing moved aside", () => {
    const path = join(dir, "www.key");
    writeFileSync(path, generateKeyPem("ecdsa-p384"), { mode: 0o600 });
    const err = refusal(path, "ecdsa-p256");
    expect(err.code).toBe("key_mismatch");
    expect(err.message).toBe(`key: ${path} holds an ecdsa-p384 key; key_type is ecdsa-p256`);
  });

  test("garbage: key_invalid, never overwritten, its content not in the message", () => {
    const path = join(dir, "www.key");
    writeFileSync(path, "c2VjcmV0LWxvb2tpbmctYnl0ZXM=", { mode: 0o600 });
    const err = refusal(path, "ecdsa-p256");
    expect(err.code).toBe("key_invalid");
    expect(err.message).toStartWith(`key: ${path} is not a private key`);
    expect(err.message).not.toContain("c2VjcmV0");
  });
});
