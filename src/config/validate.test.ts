/** @module Config validation: each broken config and the exact problem lines it must produce, then what a good one resolves to. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfigText } from "./load.ts";
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR, type RotaConfig } from "./schema.ts";

// Relative paths resolve against the config file's folder, so the file "lives" in a real one.
const dir = mkdtempSync(join(tmpdir(), "rota-config-"));
mkdirSync(join(dir, "www"));
writeFileSync(join(dir, "eab.key"), "c2VjcmV0\n");
const FILE = join(dir, "rota.toml");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two CAs (ca[0] needs DCV, ca[1] does not), one webroot, one install target. */
const SECTIONS = `
[[ca]]
name = "le"
type = "acme"
directory_url = "https://acme.example/directory"

[[ca]]
name = "internal"
type = "local"

[[dcv]]
name = "web"
type = "webroot"
path = "www"

[[install]]
name = "files"
type = "filesystem"
dir = "out"
`;

/** A config with the shared sections and one `[[cert]]` made of `body`. */
const withCert = (body: string) => `${SECTIONS}\n[[cert]]\n${body}\n`;
const GOOD_CERT = `id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"`;
/** A third CA (ca[2]) of type acme with `extra` keys. */
const withAcme = (extra: string) => `${SECTIONS}\n[[ca]]\nname = "z"\ntype = "acme"\ndirectory_url = "https://z.example/dir"\n${extra}\n`;

function load(text: string | Uint8Array, env: Record<string, string | undefined> = {}): RotaConfig {
  return parseConfigText(typeof text === "string" ? new TextEncoder().encode(text) : text, FILE, env);
}

function problemsOf(text: string | Uint8Array, env: Record<string, string | undefined> = {}): string[] {
  try {
    load(text, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

interface BrokenCase {
  name: string;
  toml: string;
  env?: Record<string, string>;
  problems: string[];
}

const BROKEN: BrokenCase[] = [
  { name: "empty domains", toml: withCert(`id = "a"\ndomains = []\nca = "internal"\ninstall = "files"`), problems: ["cert[0].domains: must not be empty"] },
  { name: "unknown top-level key", toml: `colour = "blue"\n${SECTIONS}`, problems: ["colour: unknown key"] },
  { name: "unknown key in a section", toml: `[daemon]\ncheck_intervall_seconds = 60\n${SECTIONS}`, problems: ["daemon.check_intervall_seconds: unknown key"] },
  { name: "unknown key in a backend section", toml: `${SECTIONS}\nmode = "0644"\n`, problems: ["install[0].mode: unknown key"] },
  {
    name: "unknown ca type reports only the type, not its keys",
    toml: `${SECTIONS}\n[[ca]]\nname = "x"\ntype = "vault"\nurl = "https://vault"\n`,
    problems: ['ca[2].type: unknown ca type "vault" (known: acme, local)'],
  },
  {
    name: "missing ca reference",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "x"\ninstall = "files"`),
    problems: ['cert[0].ca: no [[ca]] named "x"'],
  },
  {
    name: "missing dcv reference",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "le"\ndcv = "x"\ninstall = "files"`),
    problems: ['cert[0].dcv: no [[dcv]] named "x"'],
  },
  {
    name: "missing install reference as a string",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = "x"`),
    problems: ['cert[0].install: no [[install]] named "x"'],
  },
  {
    name: "missing install reference in a list",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = ["files", "x"]`),
    problems: ['cert[0].install[1]: no [[install]] named "x"'],
  },
  {
    name: "dcv missing for an acme CA",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "le"\ninstall = "files"`),
    problems: ['cert[0].dcv: is required: ca "le" (type acme) validates domain control'],
  },
  { name: "duplicate ca names", toml: `${SECTIONS}\n[[ca]]\nname = "le"\ntype = "local"\n`, problems: ['ca[2].name: duplicate ca name "le"'] },
  {
    name: "duplicate cert ids (their shared default key path is not reported again)",
    toml: `${withCert(GOOD_CERT)}\n[[cert]]\nid = "a"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\n`,
    problems: ['cert[1].id: duplicate cert id "a"'],
  },
  {
    name: "two certs sharing a key path, named at the cert's own index",
    toml: `${withCert(`id = "bad"\ndomains = []\nca = "internal"\ninstall = "files"`)}
[[cert]]\nid = "b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\nkey_path = "shared.key"
[[cert]]\nid = "c"\ndomains = ["c.example"]\nca = "internal"\ninstall = "files"\nkey_path = "shared.key"\n`,
    problems: ["cert[0].domains: must not be empty", 'cert[2].key_path: is also the key of cert "b"'],
  },
  {
    name: "cert id with uppercase or a slash",
    toml: `${withCert(`id = "Www"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"`)}
[[cert]]\nid = "a/b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\n`,
    problems: ['cert[0].id: "Www" must match [a-z0-9][a-z0-9._-]*', 'cert[1].id: "a/b" must match [a-z0-9][a-z0-9._-]*'],
  },
  {
    name: "invalid host names",
    toml: withCert(`id = "a"\ndomains = ["a_b.example", "a.example.", "a..example", "*.", "a.*.b", "*.ok.example"]\nca = "internal"\ninstall = "files"`),
    problems: [
      'cert[0].domains[0]: "a_b.example" is not a valid host name',
      'cert[0].domains[1]: "a.example." is not a valid host name',
      'cert[0].domains[2]: "a..example" is not a valid host name',
      'cert[0].domains[3]: "*." is not a valid host name',
      'cert[0].domains[4]: "a.*.b" is not a valid host name',
    ],
  },
  {
    name: "a name listed twice, whatever its case",
    toml: withCert(`id = "a"\ndomains = ["a.example", "A.Example"]\nca = "internal"\ninstall = "files"`),
    problems: ['cert[0].domains[1]: "a.example" is listed twice'],
  },
  {
    name: "an empty name keeps the index of the item it is at",
    toml: withCert(`id = "a"\ndomains = ["a.example", ""]\nca = "internal"\ninstall = "files"`),
    problems: ["cert[0].domains[1]: must be a non-empty string"],
  },
  {
    name: "wrong types",
    toml: `[daemon]\ncheck_interval_seconds = "60"\nmax_concurrent_renewals = 1.5\n${withCert(`id = 1\ndomains = "a.example"\nca = ["internal"]\ninstall = 3`)}`,
    problems: [
      "daemon.check_interval_seconds: must be an integer, not a string",
      "daemon.max_concurrent_renewals: must be an integer",
      "cert[0].id: must be a string, not a number",
      "cert[0].domains: must be a list of strings, not a string",
      "cert[0].ca: must be a string, not an array",
      "cert[0].install: must be a string or a list of strings, not a number",
    ],
  },
  { name: "a section that is not a table", toml: `daemon = 3\n${SECTIONS}`, problems: ["daemon: must be a table"] },
  { name: "zero check_interval", toml: `[daemon]\ncheck_interval_seconds = 0\n${SECTIONS}`, problems: ["daemon.check_interval_seconds: must be at least 1"] },
  { name: "negative check_interval", toml: `[daemon]\ncheck_interval_seconds = -5\n${SECTIONS}`, problems: ["daemon.check_interval_seconds: must be at least 1"] },
  {
    name: "cooldown cap below its base",
    toml: `[daemon]\nfailure_cooldown_seconds = 100\nfailure_cooldown_max_seconds = 10\n${SECTIONS}`,
    problems: ["daemon.failure_cooldown_max_seconds: must not be less than failure_cooldown_seconds"],
  },
  {
    name: "eab_kid without a key",
    toml: withAcme(`eab_kid = "kid-1"`),
    problems: ["ca[2].eab_hmac_key_file: is required when eab_kid is set (or eab_hmac_key_env)"],
  },
  {
    name: "eab_hmac_key_file that does not exist",
    toml: withAcme(`eab_kid = "kid-1"\neab_hmac_key_file = "missing.key"`),
    problems: [`ca[2].eab_hmac_key_file: ${join(dir, "missing.key")} does not exist`],
  },
  {
    name: "eab_hmac_key_env naming an unset variable",
    toml: withAcme(`eab_kid = "kid-1"\neab_hmac_key_env = "ROTA_TEST_EAB"`),
    problems: ["ca[2].eab_hmac_key_env: environment variable ROTA_TEST_EAB is not set"],
  },
  {
    name: "an EAB key without eab_kid",
    toml: withAcme(`eab_hmac_key_env = "ROTA_TEST_EAB"`),
    env: { ROTA_TEST_EAB: "c2VjcmV0" },
    problems: ["ca[2].eab_kid: is required when an EAB HMAC key is set"],
  },
  {
    name: "eab key given both as a file and from the environment",
    toml: withAcme(`eab_kid = "kid-1"\neab_hmac_key_file = "eab.key"\neab_hmac_key_env = "ROTA_TEST_EAB"`),
    env: { ROTA_TEST_EAB: "c2VjcmV0" },
    problems: ["ca[2].eab_hmac_key_file: give eab_hmac_key_file or eab_hmac_key_env, not both"],
  },
  { name: "ca_bundle not existing", toml: withAcme(`ca_bundle = "bundle.pem"`), problems: [`ca[2].ca_bundle: ${join(dir, "bundle.pem")} does not exist`] },
  {
    name: "webroot path not existing",
    toml: `${SECTIONS}\n[[dcv]]\nname = "w2"\ntype = "webroot"\npath = "/nonexistent/www"\n`,
    problems: ["dcv[1].path: /nonexistent/www does not exist"],
  },
  {
    name: "webroot path that is a file",
    toml: `${SECTIONS}\n[[dcv]]\nname = "w2"\ntype = "webroot"\npath = "eab.key"\n`,
    problems: [`dcv[1].path: ${join(dir, "eab.key")} is not a directory`],
  },
  {
    name: "a cert with nothing in it",
    toml: withCert(""),
    problems: ["cert[0].id: is required", "cert[0].domains: is required", "cert[0].ca: is required", "cert[0].install: is required: name at least one [[install]]"],
  },
  {
    name: "several problems reported together",
    toml: `colour = "blue"\n[daemon]\ncheck_interval_seconds = 0\n${withCert(`id = "a"\ndomains = ["a_b.example"]\nca = "x"\ninstall = ["nope"]`)}`,
    problems: [
      "daemon.check_interval_seconds: must be at least 1",
      'cert[0].domains[0]: "a_b.example" is not a valid host name',
      'cert[0].ca: no [[ca]] named "x"',
      'cert[0].install[0]: no [[install]] named "nope"',
      "colour: unknown key",
    ],
  },
];

describe("broken configs", () => {
  for (const c of BROKEN) {
    test(c.name, () => {
      expect(problemsOf(c.toml, c.env)).toEqual(c.problems);
    });
  }

  // An inline key is one problem, not also a missing eab_hmac_key_file.
  test("inline eab_hmac_key is rejected with one problem", () => {
    expect(problemsOf(withAcme(`eab_kid = "kid-1"\neab_hmac_key = "x"`))).toEqual([
      "ca[2].eab_hmac_key: secrets are not accepted inline; use eab_hmac_key_file or eab_hmac_key_env",
    ]);
  });

  test("inline eab_hmac_key is rejected", () => {
    expect(problemsOf(withAcme(`eab_kid = "kid-1"\neab_hmac_key = "x"`))).toContain(
      "ca[2].eab_hmac_key: secrets are not accepted inline; use eab_hmac_key_file or eab_hmac_key_env",
    );
  });

  test("a TOML syntax error names its line and column", () => {
    expect(problemsOf(`[daemon]\nstate_dir = "/x"\nsocket = = "/y"\n`)).toEqual(["line 3, column 10: invalid value"]);
    expect(problemsOf(`[daemon]\ncheck_interval_seconds = 60\n[[cert]\n`)).toEqual(["line 3, column 8: expected end of table array declaration"]);
    expect(problemsOf(`[daemon]\ncheck_interval_seconds = 60\ncheck_interval_seconds = 90\n`)).toEqual([
      "line 3, column 1: trying to redefine an already defined table or value",
    ]);
  });

  test("invalid UTF-8 is rejected, not replaced, naming its line", () => {
    const enc = (s: string) => [...new TextEncoder().encode(s)];
    const inString = new Uint8Array([...enc('[daemon]\nstate_dir = "/var/'), 0xff, 0xfe, ...enc('"\n')]);
    expect(problemsOf(inString)).toEqual(["line 2: not valid UTF-8"]);
    // In a comment too: a lenient decoder would turn it into U+FFFD and the config would load.
    const inComment = new Uint8Array([...enc(`${SECTIONS}# caf`), 0xc3, 0x28, ...enc("\n")]);
    expect(problemsOf(inComment)).toEqual([`line ${SECTIONS.split("\n").length}: not valid UTF-8`]);
  });

  test("the ConfigError message counts the problems", () => {
    const err = (() => {
      try {
        load(withCert(`id = "a"\ndomains = []\nca = "x"\ninstall = "files"`));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`config ${FILE}: 2 problems`);
    expect((err as ConfigError).code).toBe("config_invalid");
    expect((err as ConfigError).noRetry).toBe(true);
  });
});

describe("a valid config", () => {
  test("defaults applied", () => {
    const config = load(withCert(GOOD_CERT));
    expect(config.file).toBe(FILE);
    expect(config.daemon).toEqual({
      stateDir: DEFAULT_STATE_DIR,
      socket: DEFAULT_SOCKET,
      checkIntervalSeconds: 3600,
      renewThresholdDays: undefined,
      failureCooldownSeconds: 900,
      failureCooldownMaxSeconds: 86400,
      maxConcurrentRenewals: 4,
    });
    expect(config.audit).toEqual({ backend: "sqlite", path: join(DEFAULT_STATE_DIR, "rota.db") });
    expect(config.certs).toEqual([
      {
        id: "a",
        domains: ["a.example"],
        ca: "internal",
        dcv: undefined,
        install: ["files"],
        keyPath: join(DEFAULT_STATE_DIR, "keys", "a.key"),
        keyType: "ecdsa-p256",
        renewThresholdDays: undefined,
      },
    ]);
  });

  test("the audit database and default key paths follow state_dir", () => {
    const config = load(`[daemon]\nstate_dir = "/srv/rota"\n${withCert(GOOD_CERT)}`);
    expect(config.audit.path).toBe("/srv/rota/rota.db");
    expect(config.certs[0]!.keyPath).toBe("/srv/rota/keys/a.key");
  });

  test("relative paths resolve against the config file's folder", () => {
    const config = load(`[daemon]
state_dir = "state"
socket = "run/rota.sock"

[audit]
path = "db/audit.db"
${withAcme(`ca_bundle = "eab.key"\neab_kid = "kid-1"\neab_hmac_key_file = "eab.key"`)}
[[cert]]
id = "a"
domains = ["a.example"]
ca = "le"
dcv = "web"
install = "files"
key_path = "keys/a.pem"
`);
    expect(config.daemon.stateDir).toBe(join(dir, "state"));
    expect(config.daemon.socket).toBe(join(dir, "run/rota.sock"));
    expect(config.audit.path).toBe(join(dir, "db/audit.db"));
    expect(config.certs[0]!.keyPath).toBe(join(dir, "keys/a.pem"));
    expect(config.dcvs[0]!.options).toEqual({ path: join(dir, "www") });
    expect(config.installs[0]!.options).toEqual({ dir: join(dir, "out"), uid: undefined, gid: undefined });
    expect(config.cas[2]!.options).toEqual({
      directoryUrl: "https://z.example/dir",
      email: undefined,
      caBundle: join(dir, "eab.key"),
      eab: { kid: "kid-1", hmacKey: { from: "file", path: join(dir, "eab.key") } },
    });
  });

  test("thresholds, wildcards, lists of targets, an EAB key from the environment", () => {
    const config = load(
      `[daemon]\nrenew_threshold_days = 20\n${withAcme(`eab_kid = "kid-1"\neab_hmac_key_env = "ROTA_TEST_EAB"`)}
[[install]]\nname = "more"\ntype = "filesystem"\ndir = "/srv/certs"\nowner = "65534"\ngroup = "65534"
[[cert]]\nid = "wild"\ndomains = ["*.Example.COM", "example.com"]\nca = "le"\ndcv = "web"\ninstall = ["files", "more"]\nrenew_threshold_days = 10\nkey_type = "rsa-2048"\n`,
      { ROTA_TEST_EAB: "c2VjcmV0" },
    );
    expect(config.daemon.renewThresholdDays).toBe(20);
    expect(config.cas[2]!.options).toMatchObject({ eab: { kid: "kid-1", hmacKey: { from: "env", name: "ROTA_TEST_EAB" } } });
    expect(config.installs[1]!.options).toEqual({ dir: "/srv/certs", uid: 65534, gid: 65534 });
    expect(config.certs[0]).toMatchObject({
      domains: ["*.example.com", "example.com"],
      dcv: "web",
      install: ["files", "more"],
      renewThresholdDays: 10,
      keyType: "rsa-2048",
    });
  });
});
