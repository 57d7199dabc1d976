/** @module A start's config in two parts: the same config, problems and warnings as a whole validation, or the whole load when it cannot be split. */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { loadForStart } from "./early.ts";
import { ConfigError, loadConfigCached, loadConfigWarned } from "./load.ts";
import { lookupParse, PARSE_CACHE_FILE, rememberParse } from "./parse-cache.ts";
import { ConfigValidation, validateConfig, type Validated } from "./validate.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-early-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FILE = join(dir, "rota.toml");
const STATE = join(dir, "state");
const TAG = "1.0.0 abcdef012345";
writeFileSync(join(dir, "api-token"), "s3cret-token-0123456789abcdef\n", { mode: 0o600 });
const ENV = {};

const HEAD = `[daemon]
state_dir = "state"
renew_threshold_days = 30

[[ca]]
name = "internal"
type = "local"
validity_days = 60

[[ca]]
name = "le"
type = "acme"
directory_url = "https://acme.example/dir"
email = "ops@example.com"

[[dcv]]
name = "web"
type = "webroot"
path = "/usr/share"

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[http]
listen = "127.0.0.1:18443"
token_file = "api-token"
`;

const cert = (id: string, more = "", domains = `["${id}.example"]`) => `
[[cert]]
id = "${id}"
domains = ${domains}
ca = "internal"
install = "files"
${more}`;

/** 1,200 certs (more than one line of the cache), every tenth with something of its own. */
function many(broken: boolean): string {
  let out = HEAD;
  for (let i = 0; i < 1200; i++) {
    const id = `c${i}`;
    if (i % 10 === 1) out += cert(id, `renew_threshold_days = 50`);
    else if (i % 10 === 2) out += cert(id, `key_path = "keys/${id}.key"\nkey_type = "rsa-2048"`);
    else if (broken && i % 100 === 3) out += cert("c0", `ca = "nowhere"`).replace('ca = "internal"\n', "");
    else if (broken && i % 100 === 4) out += cert(id, `key_path = "keys/c2.key"`);
    else if (broken && i % 100 === 5) out += cert(id, `dcv = "web"`, `["*.${id}.example", "bad name"]`).replace('ca = "internal"', 'ca = "le"');
    else if (broken && i % 100 === 6) out += cert(id, `colour = "blue"`);
    else out += cert(id);
  }
  return out;
}

beforeEach(() => {
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { mode: 0o700 });
});

/** Validation in runs of `step` certs, as a start does it between turns of the event loop. */
function inRuns(doc: Record<string, unknown>, step: number): Validated {
  const v = new ConfigValidation(doc, FILE, ENV);
  const n = v.beginCerts();
  for (let at = 0; at < n; ) v.readCerts((at = Math.min(n, at + step)));
  return v.finish();
}

/** Keeps the honest parse of FILE's bytes in the cache, as a start with them would have. */
function plant(): void {
  const bytes = readFileSync(FILE);
  rememberParse(lookupParse(bytes, FILE, TAG), parse(bytes.toString()) as Record<string, unknown>);
}

async function problemsOf(load: () => Promise<unknown> | unknown): Promise<string[]> {
  try {
    await load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("accepted");
}

describe("ConfigValidation", () => {
  test("in runs of any length: the config, problems and warnings of one whole validation", () => {
    for (const broken of [false, true]) {
      const doc = parse(many(broken)) as Record<string, unknown>;
      const whole = validateConfig(doc, FILE, ENV);
      expect(whole.ok).toBe(!broken);
      if (whole.ok) expect(whole.warnings.length).toBeGreaterThan(0);
      else expect(whole.problems.length).toBeGreaterThan(40);
      for (const step of [1, 7, 500, 5000]) expect(inRuns(doc, step)).toEqual(whole);
    }
  });

  test("the certs given apart from the document: the same again", () => {
    for (const broken of [false, true]) {
      const doc = parse(many(broken)) as Record<string, unknown>;
      const { cert, ...head } = doc;
      const v = new ConfigValidation(head, FILE, ENV);
      v.readCerts(v.beginCerts(cert as unknown[]));
      expect(v.finish()).toEqual(validateConfig(doc, FILE, ENV));
    }
  });

  test("no certs, and certs that are not an array of tables", () => {
    for (const text of [HEAD, `${HEAD}cert = 3\n`, `${HEAD}cert = [1, { id = "a" }]\n`, `${HEAD}cert = []\n`]) {
      const doc = parse(text) as Record<string, unknown>;
      expect(inRuns(doc, 1)).toEqual(validateConfig(doc, FILE, ENV));
    }
  });
});

describe("loadForStart", () => {
  test("no cache, or one for other bytes: the whole load, as loadConfigCached gives it", () => {
    writeFileSync(FILE, many(false));
    const start = loadForStart(FILE, TAG, ENV);
    expect(start.early).toBeUndefined();
    expect(start.loaded!.config).toEqual(loadConfigWarned(FILE, ENV).config);
    plant();
    writeFileSync(FILE, `${many(false)}\n# edited\n`);
    expect(loadForStart(FILE, TAG, ENV).early).toBeUndefined();
  });

  test("a cache hit listens first: the settings at once, then the config a whole load gives", async () => {
    writeFileSync(FILE, many(false));
    plant();
    const start = loadForStart(FILE, TAG, ENV);
    expect(start.early).toBeDefined();
    const whole = loadConfigWarned(FILE, ENV);
    expect(start.early!.daemon).toEqual(whole.config.daemon);
    expect(start.early!.http).toEqual(whole.config.http);
    const done = await start.early!.complete();
    expect(done.config).toEqual(whole.config);
    expect(done.warnings).toEqual(whole.warnings);
  });

  test("a cert part that no longer validates: the same problems as the whole load, after listening", async () => {
    writeFileSync(FILE, many(true));
    plant();
    const start = loadForStart(FILE, TAG, ENV);
    expect(start.early).toBeDefined();
    const expected = await problemsOf(() => loadConfigWarned(FILE, ENV));
    expect(await problemsOf(() => start.early!.complete())).toEqual(expected);
    expect(await problemsOf(() => loadConfigCached(FILE, TAG, ENV))).toEqual(expected);
  });

  test("the machine changed under the first part (the token's file gone): the whole load reports it before listening", async () => {
    writeFileSync(FILE, many(false));
    plant();
    rmSync(join(dir, "api-token"));
    try {
      const expected = await problemsOf(() => loadConfigWarned(FILE, ENV));
      expect(expected).toContain(`http.token_file: ${join(dir, "api-token")} does not exist`);
      expect(await problemsOf(() => loadForStart(FILE, TAG, ENV))).toEqual(expected);
    } finally {
      writeFileSync(join(dir, "api-token"), "s3cret-token-0123456789abcdef\n", { mode: 0o600 });
    }
  });

  test("cluster mode and tls_cert_id load whole", () => {
    for (const extra of [`tls_cert_id = "c0"\n`, `\n[cluster]\nenabled = false\n`]) {
      writeFileSync(FILE, `${HEAD}${extra}${cert("c0")}`);
      plant();
      expect(loadForStart(FILE, TAG, ENV).early === undefined).toBe(extra.includes("tls_cert_id"));
    }
  });

  test("a damaged cert part: the TOML is parsed, and the config is the same", async () => {
    writeFileSync(FILE, many(false));
    plant();
    const cache = join(STATE, PARSE_CACHE_FILE);
    const bytes = readFileSync(cache);
    const at = bytes.lastIndexOf("c1199.example");
    bytes[at] = "d".charCodeAt(0);
    writeFileSync(cache, bytes, { mode: 0o600 });
    const start = loadForStart(FILE, TAG, ENV);
    expect(start.early).toBeDefined();
    expect((await start.early!.complete()).config).toEqual(loadConfigWarned(FILE, ENV).config);
  });
});
