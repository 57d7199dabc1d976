import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSecret, redact, secretEnvNames, secretsRead, withoutPrivateKeys } from "./secret.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-secret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("secrets are cut out of any text; values under 4 characters are left", () => {
  expect(redact("login refused for hunter2hunter2 (hunter2hunter2)", ["hunter2hunter2", ""])).toBe("login refused for [redacted] ([redacted])");
  expect(redact("abc abcd", ["abc", "abcd"])).toBe("abc [redacted]");
});

test("every value read, from a file or the environment, is remembered for redaction; an empty one is not", () => {
  const file = join(dir, "token");
  writeFileSync(file, "file-secret-4711\n");
  process.env.ROTA_TEST_SECRET_A = "env-secret-0815";
  process.env.ROTA_TEST_SECRET_EMPTY = "";
  expect(readSecret({ from: "file", path: file })).toBe("file-secret-4711");
  expect(readSecret({ from: "env", name: "ROTA_TEST_SECRET_A" })).toBe("env-secret-0815");
  expect(readSecret({ from: "env", name: "ROTA_TEST_SECRET_EMPTY" })).toBe("");
  expect(secretsRead()).toEqual(expect.arrayContaining(["file-secret-4711", "env-secret-0815"]));
  expect(secretsRead()).not.toContain("");
  delete process.env.ROTA_TEST_SECRET_A;
  delete process.env.ROTA_TEST_SECRET_EMPTY;
});

test("secretEnvNames: the *_env variables of every section, each once, sorted; *_file secrets are no variable", () => {
  const config = {
    daemon: { stateDir: "/var/lib/rota" },
    cas: [{ name: "le", type: "acme", options: { eab: { kid: "k", hmacKey: { from: "env", name: "EAB_KEY" } } } }],
    dcvs: [
      { name: "cf", type: "cloudflare", options: { token: { from: "env", name: "CF_API_TOKEN" } } },
      { name: "cf2", type: "cloudflare", options: { token: { from: "env", name: "CF_API_TOKEN" } } },
    ],
    installs: [{ name: "dsm", type: "dsm", options: { password: { from: "file", path: "/etc/rota/dsm" } } }],
    alerts: [{ name: "mail", type: "email", options: { auth: { username: "u", password: { from: "env", name: "SMTP_PASSWORD" } } } }],
    http: { token: { from: "env", name: "ROTA_API_TOKEN" } },
  };
  expect(secretEnvNames(config)).toEqual(["CF_API_TOKEN", "EAB_KEY", "ROTA_API_TOKEN", "SMTP_PASSWORD"]);
  expect(secretEnvNames({ cas: [] })).toEqual([]);
});

describe("withoutPrivateKeys", () => {
  const ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB1xAAAA\nAwEHoUQDQgAE\n-----END EC PRIVATE KEY-----";
  const pkcs8 = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----";
  const cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";

  test("each key block goes, whatever its kind; certificates and the rest stay", () => {
    expect(withoutPrivateKeys(`before\n${ec}\n${cert}\n${pkcs8}\nafter`)).toBe(`before\n[private key redacted]\n${cert}\n[private key redacted]\nafter`);
  });

  test("a block cut at its end or at its start by output trimming goes too", () => {
    expect(withoutPrivateKeys(`start\n-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG`)).toBe("start\n[private key redacted]");
    expect(withoutPrivateKeys(`AgEAMBMGByqG\n-----END RSA PRIVATE KEY-----\nexit 1`)).toBe("[private key redacted]\nexit 1");
  });

  test("text without a key is returned as it is", () => {
    expect(withoutPrivateKeys("nginx: configuration file test is successful")).toBe("nginx: configuration file test is successful");
  });
});

test("a value from the environment is trimmed as a file's is: a trailing newline is no part of the secret", () => {
  process.env.ROTA_TEST_SECRET_NL = "  env-secret-with-newline\n";
  try {
    expect(readSecret({ from: "env", name: "ROTA_TEST_SECRET_NL" })).toBe("env-secret-with-newline");
  } finally {
    delete process.env.ROTA_TEST_SECRET_NL;
  }
});
