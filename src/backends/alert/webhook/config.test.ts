/** @module The webhook section's own keys: defaults, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseWebhookConfig, type WebhookConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-webhook-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "secret"), "s3cret\n");
writeFileSync(join(dir, "not-pem.pem"), "hello\n");
writeFileSync(join(dir, "blank"), "\n");

function parse(table: Record<string, unknown>): { cfg: WebhookConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "alert[0]", { problems, baseDir: dir, env: { HOOK_TOKEN: "t0k" } });
  const cfg = parseWebhookConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parseWebhookConfig", () => {
  test("defaults: POST, 10 s, json, no headers, no token, no signing", () => {
    expect(parse({ url: "https://hooks.example.com/rota" })).toEqual({
      cfg: {
        url: "https://hooks.example.com/rota",
        method: "POST",
        timeoutSeconds: 10,
        headers: {},
        bearerToken: undefined,
        secret: undefined,
        caBundle: undefined,
        format: "json",
      },
      problems: [],
    });
  });

  test("every key set", () => {
    const { cfg, problems } = parse({
      url: "http://127.0.0.1:8080/hook",
      method: "PUT",
      timeout_seconds: 120,
      headers: { "X-Team": "ops" },
      bearer_token_env: "HOOK_TOKEN",
      secret_file: "secret",
      format: "ntfy",
    });
    expect(problems).toEqual([]);
    expect(cfg).toEqual({
      url: "http://127.0.0.1:8080/hook",
      method: "PUT",
      timeoutSeconds: 120,
      headers: { "X-Team": "ops" },
      bearerToken: { from: "env", name: "HOOK_TOKEN" },
      secret: { from: "file", path: join(dir, "secret") },
      caBundle: undefined,
      format: "ntfy",
    });
  });

  test("url is required and must be http(s)", () => {
    expect(parse({}).problems).toEqual(["alert[0].url: is required"]);
    expect(parse({ url: "ftp://example.com/x" }).problems).toEqual(['alert[0].url: "ftp://example.com/x" is not an http(s) URL']);
    expect(parse({ url: "not a url" }).problems).toEqual(['alert[0].url: "not a url" is not an http(s) URL']);
  });

  test("method, timeout and format are checked", () => {
    expect(parse({ url: "https://h/", method: "GET", timeout_seconds: 0, format: "teams" }).problems).toEqual([
      'alert[0].method: "GET" is not one of POST, PUT',
      "alert[0].timeout_seconds: must be between 1 and 120",
      'alert[0].format: "teams" is not one of json, slack, discord, ntfy',
    ]);
  });

  test("headers: rota's own, the client's, bad names and line breaks are refused", () => {
    const { cfg, problems } = parse({
      url: "https://h/",
      headers: {
        authorization: "Bearer inline-canary",
        "Content-Type": "text/plain",
        "X-Rota-Delivery": "x",
        Host: "evil",
        "Bad Name": "x",
        "X-Split": "a\r\nX-Injected: 1",
        "X-Num": 5,
        "X-Ok": "fine",
      },
    });
    expect(cfg.headers).toEqual({ "X-Ok": "fine" });
    expect(problems).toEqual([
      "alert[0].headers.authorization: is not accepted here: the token would sit in the config; use bearer_token_file or bearer_token_env",
      "alert[0].headers.Content-Type: is set by rota itself",
      "alert[0].headers.X-Rota-Delivery: is set by rota itself",
      "alert[0].headers.Host: is set by rota itself",
      "alert[0].headers.Bad Name: is not a valid header name",
      "alert[0].headers.X-Split: must not hold a line break or another control character",
      "alert[0].headers.X-Num: must be a string, not a number",
    ]);
    expect(problems.join("\n")).not.toContain("inline-canary");
  });

  test("secrets only from a file or the environment", () => {
    expect(parse({ url: "https://h/", secret: "inline", bearer_token_env: "UNSET_VAR" }).problems).toEqual([
      "alert[0].bearer_token_env: environment variable UNSET_VAR is not set",
      "alert[0].secret: secrets are not accepted inline; use secret_file or secret_env",
    ]);
  });

  test("an empty secret or token file is refused: every delivery would fail on it", () => {
    expect(parse({ url: "https://h/", secret_file: "blank", bearer_token_file: "blank" }).problems).toEqual([
      `alert[0].bearer_token_file: ${join(dir, "blank")} is empty`,
      `alert[0].secret_file: ${join(dir, "blank")} is empty`,
    ]);
  });

  test("ca_bundle must exist and hold a PEM certificate", () => {
    expect(parse({ url: "https://h/", ca_bundle: "missing.pem" }).problems).toEqual([`alert[0].ca_bundle: ${join(dir, "missing.pem")} does not exist`]);
    expect(parse({ url: "https://h/", ca_bundle: "not-pem.pem" }).problems).toEqual([`alert[0].ca_bundle: ${join(dir, "not-pem.pem")} holds no PEM certificate`]);
  });

  test("an unknown key is reported", () => {
    expect(parse({ url: "https://h/", to: ["ops@example.com"] }).problems).toEqual(["alert[0].to: unknown key"]);
  });
});
