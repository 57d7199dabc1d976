/** @module The dsm section's own keys: defaults, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseDsmConfig, type DsmConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-dsm-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "dsm.pass"), "secret\n");
writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");

function parse(table: Record<string, unknown>): { cfg: DsmConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "install[0]", { problems, baseDir: dir, env: {} });
  const cfg = parseDsmConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

const base = { url: "http://127.0.0.1:5000", username: "rota", password_file: "dsm.pass", description: "rota" };

describe("parseDsmConfig", () => {
  test("defaults", () => {
    expect(parse(base)).toEqual({
      cfg: {
        url: "http://127.0.0.1:5000",
        username: "rota",
        password: { from: "file", path: join(dir, "dsm.pass") },
        description: "rota",
        certificateId: undefined,
        create: true,
        makeDefault: false,
        deviceName: `rota-${hostname()}`,
        caBundle: undefined,
        tlsServerName: undefined,
        insecureSkipVerify: false,
        timeoutSeconds: 30,
      },
      problems: [],
    });
  });

  test("every key set, remote https with a CA bundle", () => {
    const { cfg, problems } = parse({
      ...base,
      url: "https://nas.example.com:5001/",
      description: undefined,
      certificate_id: "AbC123",
      create: false,
      make_default: true,
      device_name: "rota-nas1",
      ca_bundle: "ca.pem",
      tls_server_name: "nas.example.com",
      timeout_seconds: 300,
    });
    expect(problems).toEqual([]);
    expect(cfg).toMatchObject({ url: "https://nas.example.com:5001", certificateId: "AbC123", description: undefined, create: false, makeDefault: true, deviceName: "rota-nas1", caBundle: join(dir, "ca.pem"), tlsServerName: "nas.example.com", timeoutSeconds: 300 });
  });

  test.each([
    [{ ...base, url: "http://nas.example.com:5000" }, 'install[0].url: "http://nas.example.com:5000" is plain http to another machine, where the password and session would cross the network in clear; use https://nas.example.com:5001'],
    [{ ...base, url: "https://nas:5001/webapi" }, 'install[0].url: "https://nas:5001/webapi" must be DSM\'s origin only (scheme, host, port), with no path, user or query'],
    [{ ...base, url: "ftp://nas" }, 'install[0].url: "ftp://nas" must be an http:// or https:// URL'],
    [{ ...base, description: undefined }, "install[0].description: is required unless certificate_id is set: it is how rota finds its certificate in DSM"],
    [{ url: base.url, username: "rota", description: "rota", password: "inline" }, "install[0].password: secrets are not accepted inline; use password_file or password_env"],
    [{ ...base, url: "https://nas:5001", insecure_skip_verify: true, ca_bundle: "ca.pem" }, "install[0].insecure_skip_verify: give ca_bundle or insecure_skip_verify = true, not both"],
    [{ ...base, insecure_skip_verify: true }, 'install[0].url: "http://127.0.0.1:5000" is plain http, so ca_bundle, tls_server_name and insecure_skip_verify do not apply'],
    [{ ...base, create: "yes" }, "install[0].create: must be true or false, not a string"],
    [{ ...base, timeout_seconds: 0 }, "install[0].timeout_seconds: must be between 1 and 300"],
    [{ ...base, certificate_id: "a b" }, 'install[0].certificate_id: "a b" is not a DSM certificate id (letters, digits, - and _)'],
  ])("refuses %p", (table, problem) => {
    expect(parse(table).problems).toEqual([problem]);
  });
});
