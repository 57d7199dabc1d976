/** @module The daemon's parse cache: used only for exactly the bytes and build it was written for, in the state folder the config names; anything else parses the TOML. */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { ConfigError, loadConfig, loadConfigCached } from "./load.ts";
import { guessStateDir, jsonKeeps, lookupParse, PARSE_CACHE_FILE, rememberParse } from "./parse-cache.ts";
import { DEFAULT_STATE_DIR } from "./schema.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-parse-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FILE = join(dir, "rota.toml");
const STATE = join(dir, "state");
const CACHE = join(STATE, PARSE_CACHE_FILE);
const TAG = "1.0.0 abcdef012345";
const TOKEN = "s3cret-token-0123456789abcdef";
writeFileSync(join(dir, "api-token"), `${TOKEN}\n`, { mode: 0o600 });

const config = (interval = 600, extra = "") => `[daemon]
state_dir = "state" # beside the config
check_interval_seconds = ${interval}

[[ca]]
name = "internal"
type = "local"
${extra}
[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[http]
listen = "127.0.0.1:18443"
token_file = "api-token"

[[cert]]
id = "a"
domains = ["a.example"]
ca = "internal"
install = "files"
`;

beforeEach(() => {
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { mode: 0o700 });
});

/** Loads FILE as the daemon does, and keeps its parse as the daemon does once started. */
function start(tag = TAG) {
  const loaded = loadConfigCached(FILE, tag, {});
  loaded.remember();
  return loaded.config;
}

/** Puts `doc` in the cache as the parse of FILE's current bytes, as a cache that lies would. */
function plant(doc: Record<string, unknown>, tag = TAG): void {
  rememberParse(lookupParse(readFileSync(FILE), FILE, tag), doc);
}

describe("loadConfigCached", () => {
  test("remember writes once: the first call lets go of the document, a second writes nothing", () => {
    writeFileSync(FILE, config());
    const loaded = loadConfigCached(FILE, TAG, {});
    loaded.remember();
    expect(existsSync(CACHE)).toBe(true);
    rmSync(CACHE);
    loaded.remember();
    expect(existsSync(CACHE)).toBe(false);
  });

  test("a start keeps its parse (0600, no secret in it); the next start reads it, giving the same config", () => {
    writeFileSync(FILE, config());
    const first = start();
    expect(statSync(CACHE).mode & 0o777).toBe(0o600);
    const text = readFileSync(CACHE, "utf8");
    expect(text).toContain('"token_file":"api-token"');
    expect(text).not.toContain(TOKEN);
    expect(start()).toEqual(first);
    expect(first).toEqual(loadConfig(FILE, {}));
  });

  test("the cache's document is what a start uses when it is for these bytes and this build", () => {
    writeFileSync(FILE, config(600));
    plant(parse(config(900)) as Record<string, unknown>);
    expect(loadConfigCached(FILE, TAG, {}).config.daemon.checkIntervalSeconds).toBe(900);
  });

  test("an edited file, another build, a damaged or truncated cache: the TOML is parsed", () => {
    const lie = parse(config(900)) as Record<string, unknown>;
    writeFileSync(FILE, config(600));
    plant(lie);
    writeFileSync(FILE, config(601));
    expect(start().daemon.checkIntervalSeconds).toBe(601);

    plant(lie);
    expect(loadConfigCached(FILE, "1.0.1 abcdef012345", {}).config.daemon.checkIntervalSeconds).toBe(601);

    plant(lie);
    const whole = readFileSync(CACHE);
    const damaged = Buffer.from(whole);
    damaged[damaged.indexOf("900")] = "8".charCodeAt(0);
    writeFileSync(CACHE, damaged);
    expect(loadConfigCached(FILE, TAG, {}).config.daemon.checkIntervalSeconds).toBe(601);
    writeFileSync(CACHE, whole.subarray(0, whole.length - 10));
    expect(loadConfigCached(FILE, TAG, {}).config.daemon.checkIntervalSeconds).toBe(601);
    writeFileSync(CACHE, "not a cache");
    expect(loadConfigCached(FILE, TAG, {}).config.daemon.checkIntervalSeconds).toBe(601);
  });

  test("a head longer than the first read (64 KiB) is read whole", () => {
    const installs = Array.from({ length: 1500 }, (_, i) => `\n[[install]]\nname = "files-${i}"\ntype = "filesystem"\ndir = "certs-${i}"\n`).join("");
    writeFileSync(FILE, `${config()}${installs}`);
    const first = start();
    expect(readFileSync(CACHE, "latin1").split("\n")[1]!.length).toBeGreaterThan(64 * 1024);
    const hit = lookupParse(readFileSync(FILE), FILE, TAG).hit;
    expect(hit?.split).toBe(true);
    expect(start()).toEqual(first);
    expect(first.installs).toHaveLength(1501);
  });

  test("a cache others may write is not read", () => {
    writeFileSync(FILE, config(600));
    plant(parse(config(900)) as Record<string, unknown>);
    chmodSync(CACHE, 0o620);
    expect(loadConfigCached(FILE, TAG, {}).config.daemon.checkIntervalSeconds).toBe(600);
  });

  test("a cache found anywhere but the state folder the config names is not used", () => {
    // The scan of the bytes finds the `[daemon]` inside the target's name (a multi-line string) first.
    const decoy = join(dir, "decoy");
    mkdirSync(decoy, { recursive: true });
    const name = `"""\n[daemon]\nstate_dir = "decoy"\n"""`;
    const [daemon, rest] = config(600).split("\n\n[[ca]]");
    writeFileSync(FILE, `[[ca]]${rest!.replaceAll('"files"', name)}\n${daemon}\n`);
    expect(guessStateDir(readFileSync(FILE), FILE)).toBe(decoy);
    const lie = parse(readFileSync(FILE, "utf8")) as { daemon: { check_interval_seconds: number } };
    lie.daemon.check_interval_seconds = 900;
    plant(lie);
    expect(existsSync(join(decoy, PARSE_CACHE_FILE))).toBe(true);
    const loaded = loadConfigCached(FILE, TAG, {});
    expect(loaded.config.daemon.checkIntervalSeconds).toBe(600);
    expect(loaded.config.daemon.stateDir).toBe(STATE);
    // Kept nowhere: the next start would look in the decoy.
    loaded.remember();
    expect(existsSync(CACHE)).toBe(false);
  });

  test("a document JSON would change (a TOML date) is not kept, and the older cache goes", () => {
    writeFileSync(FILE, config());
    start();
    expect(existsSync(CACHE)).toBe(true);
    const withDate = parse(`${config()}\nwhen = 2026-01-01\n`) as Record<string, unknown>;
    expect(jsonKeeps(withDate)).toBe(false);
    rememberParse(lookupParse(readFileSync(FILE), FILE, TAG), withDate);
    expect(existsSync(CACHE)).toBe(false);
  });

  test("a config with problems is reported as without the cache, from it or not", () => {
    writeFileSync(FILE, config(0));
    const problems = () => {
      try {
        loadConfigCached(FILE, TAG, {});
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      throw new Error("accepted");
    };
    expect(problems()).toEqual(["daemon.check_interval_seconds: must be between 1 and 604800"]);
    plant(parse(config(0)) as Record<string, unknown>);
    expect(problems()).toEqual(["daemon.check_interval_seconds: must be between 1 and 604800"]);
  });
});

describe("jsonKeeps", () => {
  test("only what JSON gives back as it was", () => {
    expect(jsonKeeps(parse(`a = "x"\nb = 1\nc = 1.5\nd = true\ne = [1, "y"]\n[f]\ng = { h = [] }`))).toBe(true);
    for (const v of ["inf", "-inf", "nan", "-0.0", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z"]) expect(jsonKeeps(parse(`a = ${v}`))).toBe(false);
    for (const k of ["__proto__", "constructor", "toString", "hasOwnProperty"]) expect(jsonKeeps(parse(`"${k}" = 1`))).toBe(false);
    expect(jsonKeeps({ a: 1n })).toBe(false);
    expect(jsonKeeps({ a: new Date(0) })).toBe(false);
    expect(jsonKeeps({ a: undefined })).toBe(false);
  });
});

describe("guessStateDir", () => {
  const guess = (text: string) => guessStateDir(Buffer.from(text), "/etc/rota/rota.toml");
  test("state_dir under [daemon], relative to the config's folder, quoted either way", () => {
    expect(guess(`[daemon]\nstate_dir = "/srv/rota"\n`)).toBe("/srv/rota");
    expect(guess(`[[ca]]\nname = "x"\n\n[daemon]\nsocket = "s"\n  state_dir='st' # here\r\n[http]\n`)).toBe("/etc/rota/st");
  });
  test("the default when [daemon] has none, or sets it otherwise", () => {
    expect(guess(`[daemon]\nsocket = "s"\n[http]\nstate_dir = "/no"\n`)).toBe(DEFAULT_STATE_DIR);
    expect(guess(`daemon.state_dir = "/no"\n`)).toBe(DEFAULT_STATE_DIR);
    expect(guess(`[[daemon]]\nstate_dir = "/no"\n`)).toBe(DEFAULT_STATE_DIR);
    expect(guess(`[daemon]\nstate_dir = "a\\tb"\n`)).toBe(DEFAULT_STATE_DIR);
    expect(guess(`[daemon]\nstate_dir = ""\n`)).toBe(DEFAULT_STATE_DIR);
  });
});
