/** @module The namecheap section's own keys: defaults, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseNamecheapConfig, type NamecheapConfig } from "./config.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-namecheap-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "key"), "k3y\n");
writeFileSync(join(dir, "blank"), "");

function parse(table: Record<string, unknown>): { cfg: NamecheapConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "dcv[0]", { problems, baseDir: dir, env: { NC_KEY: "k3y" } });
  const cfg = parseNamecheapConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

const base = { api_user: "alice", api_key_file: "key", client_ip: "203.0.113.7" };

describe("parseNamecheapConfig", () => {
  test("the propagation keys every DNS backend shares are read here too", () => {
    const { cfg, problems } = parse({ ...base, propagation_resolvers: ["127.0.0.1:53"], follow_cname: false, bootstrap_resolver: "127.0.0.1:99999" });
    expect(cfg.propagation).toEqual(propagationPolicy({ resolvers: ["127.0.0.1:53"], followCname: false, bootstrapResolver: "127.0.0.1:99999" }));
    expect(problems).toEqual(['dcv[0].bootstrap_resolver: "127.0.0.1:99999" is not host:port']);
  });

  test("defaults: username is api_user, production endpoint", () => {
    expect(parse(base)).toEqual({
      cfg: { apiUser: "alice", username: "alice", apiKey: { from: "file", path: join(dir, "key") }, clientIp: "203.0.113.7", apiUrl: "https://api.namecheap.com/xml.response", propagation: propagationPolicy() },
      problems: [],
    });
  });

  test("username, the key from the environment, sandbox", () => {
    const { cfg, problems } = parse({ api_user: "alice", username: "bob", api_key_env: "NC_KEY", client_ip: "10.0.0.1", sandbox: true });
    expect(problems).toEqual([]);
    expect(cfg).toMatchObject({ username: "bob", apiKey: { from: "env", name: "NC_KEY" }, apiUrl: "https://api.sandbox.namecheap.com/xml.response" });
  });

  test("api_url over http for tests and mirrors", () => {
    expect(parse({ ...base, api_url: "http://127.0.0.1:9/xml.response" }).cfg.apiUrl).toBe("http://127.0.0.1:9/xml.response");
  });

  test("refusals name their key", () => {
    expect(parse({}).problems).toEqual(["dcv[0].api_user: is required", "dcv[0].api_key_file: is required (or api_key_env)", "dcv[0].client_ip: is required"]);
    expect(parse({ ...base, client_ip: "2001:db8::1" }).problems).toEqual(["dcv[0].client_ip: Namecheap accepts IPv4 only (its error 1011105)"]);
    expect(parse({ ...base, client_ip: "256.1.1.1" }).problems).toHaveLength(1);
    expect(parse({ ...base, sandbox: false, api_url: "http://127.0.0.1:9/xml.response" }).problems).toEqual(["dcv[0].api_url: give api_url or sandbox, not both"]);
    expect(parse({ ...base, api_url: "ftp://x" }).problems).toEqual(['dcv[0].api_url: "ftp://x" is not an http(s) URL']);
    expect(parse({ ...base, api_key_file: "blank" }).problems).toEqual([`dcv[0].api_key_file: ${join(dir, "blank")} is empty`]);
    expect(parse({ api_user: "alice", client_ip: "203.0.113.7", api_key: "inline" }).problems).toEqual(["dcv[0].api_key: secrets are not accepted inline; use api_key_file or api_key_env"]);
  });
});
