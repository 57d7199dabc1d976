/** @module The cloudflare section's own keys: defaults, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseCloudflareConfig, type CloudflareConfig } from "./config.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-cloudflare-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "cf.token"), "t0k\n");

function parse(table: Record<string, unknown>): { cfg: CloudflareConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "dcv[0]", { problems, baseDir: dir, env: { CF_TOKEN: "t0k" } });
  const cfg = parseCloudflareConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parseCloudflareConfig", () => {
  test("the propagation keys every DNS backend shares are read here too", () => {
    const { cfg, problems } = parse({ api_token_env: "CF_TOKEN", propagation_check: false, propagation_timeout_seconds: 30, propagation_interval_seconds: 60 });
    expect(cfg.propagation).toEqual(propagationPolicy({ check: false, timeoutSeconds: 30, intervalSeconds: 60 }));
    expect(problems).toEqual(["dcv[0].propagation_interval_seconds: must not exceed propagation_timeout_seconds (30)"]);
  });

  test("defaults: the public API, the zone found by name", () => {
    expect(parse({ api_token_file: "cf.token" })).toEqual({
      cfg: { apiUrl: "https://api.cloudflare.com/client/v4", apiToken: { from: "file", path: join(dir, "cf.token") }, zoneId: undefined, propagation: propagationPolicy() },
      problems: [],
    });
  });

  test("every key set; http:// allowed, a trailing slash dropped", () => {
    const zone = "0123456789abcdef0123456789abcdef";
    expect(parse({ api_token_env: "CF_TOKEN", api_url: "http://127.0.0.1:8080/client/v4/", zone_id: zone })).toEqual({
      cfg: { apiUrl: "http://127.0.0.1:8080/client/v4", apiToken: { from: "env", name: "CF_TOKEN" }, zoneId: zone, propagation: propagationPolicy() },
      problems: [],
    });
  });

  test.each([
    [{}, "dcv[0].api_token_file: is required (or api_token_env)"],
    [{ api_token: "inline" }, "dcv[0].api_token: secrets are not accepted inline; use api_token_file or api_token_env"],
    [{ api_token_env: "CF_TOKEN", zone_id: "example.com" }, 'dcv[0].zone_id: "example.com" is not a Cloudflare zone id (32 hex digits)'],
    [{ api_token_env: "CF_TOKEN", api_url: "ftp://mirror/client/v4" }, 'dcv[0].api_url: "ftp://mirror/client/v4" is not an http(s) URL'],
  ])("refuses %p", (table, problem) => {
    expect(parse(table).problems).toEqual([problem]);
  });
});
