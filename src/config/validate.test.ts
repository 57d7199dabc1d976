/** @module Config validation: each broken config and the exact problem lines it must produce, then what a good one resolves to. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DCV_TYPES, INSTALL_TYPES } from "../backends/registry.ts";
import { parse } from "smol-toml";
import { ConfigError, parseConfigText } from "./load.ts";
import { validateConfig } from "./validate.ts";
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR, type RotaConfig } from "./schema.ts";

// Relative paths resolve against the config file's folder, so the file "lives" in a real one.
const dir = mkdtempSync(join(tmpdir(), "rota-config-"));
mkdirSync(join(dir, "www"));
writeFileSync(join(dir, "eab.key"), "c2VjcmV0\n");
writeFileSync(join(dir, "trust.pem"), "# a private ACME server's root\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
mkdirSync(join(dir, "a-folder"));
// A symlinked webroot is the same folder: `site` serves what `www` holds.
symlinkSync(join(dir, "www"), join(dir, "site"));
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
/** A valid config: the shared sections and one good cert. More `[[...]]` sections may follow it. */
const GOOD = withCert(GOOD_CERT);
/** A third CA (ca[2]) of type acme with `extra` keys, then one `[[cert]]` made of `cert`. */
const withAcme = (extra: string, cert = GOOD_CERT) =>
  `${SECTIONS}\n[[ca]]\nname = "z"\ntype = "acme"\ndirectory_url = "https://z.example/dir"\n${extra}\n\n[[cert]]\n${cert}\n`;

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

/** A local CA issuing 7-day certificates, and a cert from it. */
const SHORT_CA = `[[ca]]\nname = "short"\ntype = "local"\nvalidity_days = 7\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "out"\n\n[[cert]]\nid = "a"\ndomains = ["a.example"]\nca = "short"\ninstall = "files"\n`;

describe("thresholds and short lifetimes", () => {
  const warningsOf = (text: string) => {
    const r = validateConfig(parse(text) as Record<string, unknown>, "/etc/rota/rota.toml", {});
    if (!r.ok) throw new Error(r.problems.join("\n"));
    return r.warnings;
  };

  test("a local CA of 7-day certificates and no threshold is valid: the lifetime rule renews it at 3.5 days left", () => {
    expect(load(SHORT_CA).certs[0]!.renewThresholdDays).toBeUndefined();
    expect(warningsOf(SHORT_CA)).toEqual([]);
  });

  test("a threshold of at least half the lifetime the config gives is a warning, not a problem", () => {
    expect(warningsOf(SHORT_CA.replace('install = "files"\n', 'install = "files"\nrenew_threshold_days = 4\n'))).toEqual([
      "cert[0].renew_threshold_days: renew_threshold_days = 4 (cert) is at least half of this certificate's 7.00-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime",
    ]);
    expect(warningsOf(`[daemon]\nrenew_threshold_days = 5\n\n${SHORT_CA}`)).toEqual([
      "cert[0].ca: renew_threshold_days = 5 (daemon) is at least half of this certificate's 7.00-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime",
    ]);
    expect(warningsOf(SHORT_CA.replace('install = "files"\n', 'install = "files"\nrenew_threshold_days = 3\n'))).toEqual([]);
  });
});

const BROKEN: BrokenCase[] = [
  {
    name: "a local CA whose certificates live no longer than the daemon's threshold",
    toml: `[daemon]\nrenew_threshold_days = 30\n\n${SHORT_CA}`,
    problems: [
      'cert[0].ca: renewing 30 days before expiry (daemon) with ca "short", which issues 7-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days',
    ],
  },
  {
    name: "a cert threshold as long as the local CA's lifetime",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"\nrenew_threshold_days = 90`),
    problems: [
      'cert[0].renew_threshold_days: renewing 90 days before expiry (cert) with ca "internal", which issues 90-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days',
    ],
  },
  { name: "empty domains", toml: withCert(`id = "a"\ndomains = []\nca = "internal"\ninstall = "files"`), problems: ["cert[0].domains: must not be empty"] },
  { name: "unknown top-level key", toml: `colour = "blue"\n${GOOD}`, problems: ["colour: unknown key"] },
  { name: "unknown key in a section", toml: `[daemon]\ncheck_intervall_seconds = 60\n${GOOD}`, problems: ["daemon.check_intervall_seconds: unknown key"] },
  { name: "unknown key in a backend section", toml: `${SECTIONS}\nmode = "0644"\n[[cert]]\n${GOOD_CERT}\n`, problems: ["install[0].mode: unknown key"] },
  {
    name: "unknown ca type reports only the type, not its keys",
    toml: `${GOOD}\n[[ca]]\nname = "x"\ntype = "vault"\nurl = "https://vault"\n`,
    problems: ['ca[2].type: unknown ca type "vault" (known: acme, local, namecheap)'],
  },
  {
    name: "a cert naming sections of an unknown type: only the types are problems, not the names",
    toml: `${SECTIONS.replace('type = "local"', 'type = "letsencrypt"')}\n[[install]]\nname = "vault"\ntype = "vault"\n[[cert]]\nid = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = ["files", "vault"]\n`,
    problems: ['ca[1].type: unknown ca type "letsencrypt" (known: acme, local, namecheap)', 'install[1].type: unknown install type "vault" (known: filesystem, nginx, haproxy, dsm, k8s-secret)'],
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
  { name: "duplicate ca names", toml: `${GOOD}\n[[ca]]\nname = "le"\ntype = "local"\n`, problems: ['ca[2].name: duplicate ca name "le"'] },
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
    name: "a key path set to another cert's default key path",
    toml: `[daemon]\nstate_dir = "state"\n${withCert(GOOD_CERT)}\n[[cert]]\nid = "b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\nkey_path = "state/keys/a.key"\n`,
    problems: ['cert[1].key_path: is also the key of cert "a"'],
  },
  {
    name: "cert id with uppercase or a slash",
    toml: `${withCert(`id = "Www"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"`)}
[[cert]]\nid = "a/b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\n`,
    problems: ['cert[0].id: "Www" must match [a-z0-9][a-z0-9._-]*', 'cert[1].id: "a/b" must match [a-z0-9][a-z0-9._-]*'],
  },
  {
    name: "invalid host names",
    toml: withCert(
      `id = "a"\ndomains = ["a_b.example", "a.example.", "a..example", "*.", "a.*.b", "*.ok.example", "xn--a.example", "bü cher.example", "1.2.3", "*.10.0.0.1"]\nca = "internal"\ninstall = "files"`,
    ),
    problems: [
      'cert[0].domains[0]: "a_b.example" is not a valid host name or IP address',
      'cert[0].domains[2]: "a..example" is not a valid host name or IP address',
      'cert[0].domains[3]: "*." is not a valid host name or IP address',
      'cert[0].domains[4]: "a.*.b" is not a valid host name or IP address',
      'cert[0].domains[6]: "xn--a.example" is not a valid host name or IP address',
      'cert[0].domains[7]: "bü cher.example" is not a valid host name or IP address',
      'cert[0].domains[8]: "1.2.3" is not a valid host name or IP address',
      'cert[0].domains[9]: "*.10.0.0.1" is not a valid host name or IP address',
    ],
  },
  {
    name: "names listed twice once normalised: Unicode and A-label, trailing dot, IPv6 spellings",
    toml: withCert(
      `id = "a"\ndomains = ["Bücher.example", "xn--bcher-kva.example", "a.example", "a.example.", "2001:db8::1", "2001:DB8:0:0:0:0:0:1"]\nca = "internal"\ninstall = "files"`,
    ),
    problems: [
      'cert[0].domains[1]: "xn--bcher-kva.example" (bücher.example) is listed twice',
      'cert[0].domains[3]: "a.example" is listed twice',
      'cert[0].domains[5]: "2001:db8::1" is listed twice',
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
  { name: "a section that is not a table", toml: `daemon = 3\n${GOOD}`, problems: ["daemon: must be a table"] },
  { name: "zero check_interval", toml: `[daemon]\ncheck_interval_seconds = 0\n${GOOD}`, problems: ["daemon.check_interval_seconds: must be between 1 and 604800"] },
  { name: "negative check_interval", toml: `[daemon]\ncheck_interval_seconds = -5\n${GOOD}`, problems: ["daemon.check_interval_seconds: must be between 1 and 604800"] },
  {
    // setTimeout holds at most 2^31-1 ms: beyond it the daemon would tick in a busy loop.
    name: "check_interval beyond 7 days",
    toml: `[daemon]\ncheck_interval_seconds = 9999999999999\n${GOOD}`,
    problems: ["daemon.check_interval_seconds: must be between 1 and 604800"],
  },
  {
    name: "cooldowns beyond 30 days",
    toml: `[daemon]\nfailure_cooldown_seconds = 2592001\nfailure_cooldown_max_seconds = 99999999999\n${GOOD}`,
    problems: ["daemon.failure_cooldown_seconds: must be between 1 and 2592000", "daemon.failure_cooldown_max_seconds: must be between 1 and 2592000"],
  },
  {
    // 0 days would renew only once the certificate has expired.
    name: "renew thresholds of 0 or beyond 10 years",
    toml: `[daemon]\nrenew_threshold_days = 0\n${withCert(`${GOOD_CERT}\nrenew_threshold_days = 3651`)}\n[[cert]]\nid = "b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\nrenew_threshold_days = 0\n`,
    problems: [
      "daemon.renew_threshold_days: must be between 1 and 3650",
      "cert[0].renew_threshold_days: must be between 1 and 3650",
      "cert[1].renew_threshold_days: must be between 1 and 3650",
    ],
  },
  {
    name: "renewal timeout under a minute or over a day",
    toml: `[daemon]\nrenewal_timeout_seconds = 59\n${GOOD}`,
    problems: ["daemon.renewal_timeout_seconds: must be between 60 and 86400"],
  },
  {
    name: "worker settings out of range",
    toml: `[daemon]\nworker_idle_seconds = 0\nworker_max_renewals = 0\n${GOOD}`,
    problems: ["daemon.worker_idle_seconds: must be between 1 and 86400", "daemon.worker_max_renewals: must be between 1 and 1000000"],
  },
  {
    name: "local CA validity beyond 10 years",
    toml: `${GOOD}\n[[ca]]\nname = "long"\ntype = "local"\nvalidity_days = 3651\n`,
    problems: ["ca[2].validity_days: must be between 1 and 3650"],
  },
  {
    name: "max_authz_failures of 0",
    toml: `[daemon]\nmax_authz_failures = 0\n${GOOD}`,
    problems: ["daemon.max_authz_failures: must be between 1 and 100"],
  },
  {
    name: "max_authz_failures beyond 100",
    toml: `[daemon]\nmax_authz_failures = 101\n${GOOD}`,
    problems: ["daemon.max_authz_failures: must be between 1 and 100"],
  },
  {
    name: "max_authz_failures as a string",
    toml: `[daemon]\nmax_authz_failures = "5"\n${GOOD}`,
    problems: ["daemon.max_authz_failures: must be an integer, not a string"],
  },
  {
    name: "cooldown cap below its base",
    toml: `[daemon]\nfailure_cooldown_seconds = 100\nfailure_cooldown_max_seconds = 10\n${GOOD}`,
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
    name: "ca_bundle holding no PEM certificate",
    toml: withAcme(`ca_bundle = "eab.key"`),
    problems: [`ca[2].ca_bundle: ${join(dir, "eab.key")} holds no PEM certificate`],
  },
  { name: "ca_bundle that is a folder", toml: withAcme(`ca_bundle = "a-folder"`), problems: [`ca[2].ca_bundle: ${join(dir, "a-folder")} is not a file`] },
  {
    name: "webroot path not existing",
    toml: `${GOOD}\n[[dcv]]\nname = "w2"\ntype = "webroot"\npath = "/nonexistent/www"\n`,
    problems: ["dcv[1].path: /nonexistent/www does not exist"],
  },
  {
    name: "webroot without a path (the key-in-webroot check crashed on it: exit 1, no key named)",
    toml: `${GOOD}\n[[dcv]]\nname = "w2"\ntype = "webroot"\ndir = "www"\n`,
    problems: ["dcv[1].path: is required", "dcv[1].dir: unknown key"],
  },
  {
    name: "webroot path that is a file",
    toml: `${GOOD}\n[[dcv]]\nname = "w2"\ntype = "webroot"\npath = "eab.key"\n`,
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
      "daemon.check_interval_seconds: must be between 1 and 604800",
      'cert[0].domains[0]: "a_b.example" is not a valid host name or IP address',
      'cert[0].ca: no [[ca]] named "x"',
      'cert[0].install[0]: no [[install]] named "nope"',
      "colour: unknown key",
    ],
  },
  { name: "no [[cert]] at all", toml: SECTIONS, problems: ["cert: at least one [[cert]] is required"] },
  { name: "an empty file", toml: "", problems: ["cert: at least one [[cert]] is required"] },
  { name: "an empty list of certs", toml: `cert = []\n${SECTIONS}`, problems: ["cert: at least one [[cert]] is required"] },
  {
    name: "every bad name is reported, also next to an empty one",
    toml: withCert(`id = "a"\ndomains = ["a..com", "", "b.example", "b.example"]\nca = "internal"\ninstall = "files"`),
    problems: [
      "cert[0].domains[1]: must be a non-empty string",
      'cert[0].domains[0]: "a..com" is not a valid host name or IP address',
      'cert[0].domains[3]: "b.example" is listed twice',
    ],
  },
  {
    name: "every bad install target is reported, also next to a malformed one",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = [3, "x", "files"]`),
    problems: ["cert[0].install[0]: must be a non-empty string", 'cert[0].install[1]: no [[install]] named "x"'],
  },
  {
    name: "an install target listed twice",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = ["files", "files"]`),
    problems: ['cert[0].install[1]: "files" is listed twice'],
  },
  {
    name: "an empty install name",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = ""`),
    problems: ["cert[0].install: must not be empty"],
  },
  {
    name: "a cert id longer than 64 characters",
    toml: withCert(`id = "${"a".repeat(65)}"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"`),
    problems: ["cert[0].id: must be at most 64 characters"],
  },
  {
    name: "a wildcard with an ACME CA and a DCV that solves only http-01",
    toml: withCert(`id = "a"\ndomains = ["a.example", "*.a.example", "*.b.example"]\nca = "le"\ndcv = "web"\ninstall = "files"`),
    problems: [
      'cert[0].domains[1]: wildcard names need a dns-01 DCV; dcv "web" (type webroot) solves http-01',
      'cert[0].domains[2]: wildcard names need a dns-01 DCV; dcv "web" (type webroot) solves http-01',
    ],
  },
  {
    name: "a socket path too long to bind",
    toml: `[daemon]\nsocket = "/run/${"s".repeat(100)}.sock"\n${GOOD}`,
    problems: ["daemon.socket: path is 110 bytes; unix sockets allow at most 107"],
  },
  {
    // The daemon removes a stale socket before it binds: it must never be someone's file.
    name: "a socket path where a file is",
    toml: `[daemon]\nsocket = "eab.key"\n${GOOD}`,
    problems: [`daemon.socket: ${join(dir, "eab.key")} exists and is not a socket`],
  },
  {
    name: "a socket path where a folder is",
    toml: `[daemon]\nsocket = "a-folder"\n${GOOD}`,
    problems: [`daemon.socket: ${join(dir, "a-folder")} exists and is not a socket`],
  },
  {
    name: "state_dir that is a file",
    toml: `[daemon]\nstate_dir = "eab.key"\n${GOOD}`,
    problems: [`daemon.state_dir: ${join(dir, "eab.key")} exists and is not a directory`],
  },
  {
    name: "audit.path that is a folder",
    toml: `[audit]\npath = "a-folder"\n${GOOD}`,
    problems: [`audit.path: ${join(dir, "a-folder")} exists and is not a file`],
  },
  {
    name: "audit.retention_days out of range",
    toml: `[audit]\nretention_days = 0\n${GOOD}`,
    problems: ["audit.retention_days: must be between 1 and 36500"],
  },
  {
    name: "an unknown audit backend",
    toml: `[audit]\nbackend = "postgres"\n${GOOD}`,
    problems: ['audit.backend: "postgres" is not one of sqlite, surrealdb'],
  },
  {
    name: "keys of the other audit backend",
    toml: `[audit]\nurl = "wss://db.example.net/rpc"\n${GOOD}`,
    problems: ['audit.url: only with backend = "surrealdb"'],
  },
  {
    name: "a sqlite path under surrealdb",
    toml: `[audit]\nbackend = "surrealdb"\npath = "x.db"\nurl = "wss://db.example.net/rpc"\nusername = "rota"\npassword_file = "eab.key"\n${GOOD}`,
    problems: ['audit.path: only with backend = "sqlite"'],
  },
  {
    name: "surrealdb without url, username or password",
    toml: `[audit]\nbackend = "surrealdb"\n${GOOD}`,
    problems: ['audit.url: is required with backend = "surrealdb"', "audit.username: is required", "audit.password_file: is required (or password_env)"],
  },
  {
    name: "surrealdb url that is not ws(s), a url with credentials, an inline password",
    toml: `[audit]\nbackend = "surrealdb"\nurl = "http://h/rpc"\nusername = "rota"\npassword = "hunter2"\n${GOOD}`,
    problems: ['audit.url: "http://h/rpc" is not a ws:// or wss:// URL', "audit.password: secrets are not accepted inline; use password_file or password_env"],
  },
  {
    name: "surrealdb url with credentials, bad names, bad numbers",
    toml: `[audit]\nbackend = "surrealdb"\nurl = "wss://rota:hunter2@db.example.net/rpc"\nnamespace = "a b"\ndatabase = "x-y"\nusername = "rota"\npassword_env = "ROTA_DB_PASS"\nauth_level = "scope"\nconnect_timeout_seconds = 0\nbuffer_max_writes = 99\n${GOOD}`,
    problems: [
      "audit.url: must not carry credentials; use username and password_file",
      'audit.namespace: "a b" must match [A-Za-z0-9_]+',
      'audit.database: "x-y" must match [A-Za-z0-9_]+',
      "audit.auth_level: \"scope\" is not one of database, namespace, root",
      "audit.connect_timeout_seconds: must be between 1 and 120",
      "audit.buffer_max_writes: must be between 100 and 1000000",
    ],
    env: { ROTA_DB_PASS: "x" },
  },
  {
    name: "a local CA whose name cannot be a folder name",
    toml: `${GOOD}\n[[ca]]\nname = "../lab"\ntype = "local"\n`,
    problems: ['ca[2].name: "../lab" must match [A-Za-z0-9][A-Za-z0-9._-]* (a local CA\'s name is its folder\'s name)'],
  },
  {
    name: "an unknown key_rotation",
    toml: withCert(`${GOOD_CERT}\nkey_rotation = "always"`),
    problems: ['cert[0].key_rotation: "always" is not one of never, every_renewal'],
  },
  {
    name: "key_path that is a folder, or under a file",
    toml: `${withCert(`${GOOD_CERT}\nkey_path = "a-folder"`)}\n[[cert]]\nid = "b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\nkey_path = "eab.key/b.key"\n`,
    problems: [`cert[0].key_path: ${join(dir, "a-folder")} exists and is not a file`, `cert[1].key_path: ${join(dir, "eab.key")} is not a directory`],
  },
  {
    name: "a filesystem install dir that is a file",
    toml: `${GOOD}\n[[install]]\nname = "more"\ntype = "filesystem"\ndir = "eab.key"\n`,
    problems: [`install[1].dir: ${join(dir, "eab.key")} exists and is not a directory`],
  },
  {
    name: "a key_path inside a webroot",
    toml: withCert(`${GOOD_CERT}\nkey_path = "www/keys/a.key"`),
    problems: [`cert[0].key_path: ${join(dir, "www/keys/a.key")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private key would be served over HTTP`],
  },
  {
    name: "a key_path inside a webroot reached through a symlink, either way",
    toml: `${withCert(`${GOOD_CERT}\nkey_path = "site/a.key"`)}\n[[dcv]]\nname = "linked"\ntype = "webroot"\npath = "site"\n[[cert]]\nid = "b"\ndomains = ["b.example"]\nca = "internal"\ninstall = "files"\nkey_path = "www/b.key"\n`,
    problems: [
      `cert[0].key_path: ${join(dir, "site/a.key")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private key would be served over HTTP`,
      `cert[1].key_path: ${join(dir, "www/b.key")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private key would be served over HTTP`,
    ],
  },
  {
    name: "an install folder inside or equal to a webroot",
    toml: `${GOOD}\n[[install]]\nname = "public"\ntype = "filesystem"\ndir = "www/certs"\n\n[[install]]\nname = "same"\ntype = "filesystem"\ndir = "site"\n`,
    problems: [
      `install[1].dir: ${join(dir, "www/certs")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private keys would be served over HTTP`,
      `install[2].dir: ${join(dir, "site")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private keys would be served over HTTP`,
    ],
  },
  {
    name: "a state_dir inside a webroot (default key paths, CA keys)",
    toml: `[daemon]\nstate_dir = "www/rota"\n${GOOD}`,
    problems: [`daemon.state_dir: ${join(dir, "www/rota")} is inside the webroot of dcv "web" (${join(dir, "www")}): the private keys would be served over HTTP`],
  },
  {
    name: "more names than an ACME CA accepts in one certificate",
    toml: withCert(`id = "a"\ndomains = ${JSON.stringify(Array.from({ length: 101 }, (_, i) => `n${i}.example`))}\nca = "le"\ndcv = "web"\ninstall = "files"`),
    problems: ['cert[0].domains: 101 names, but ca "le" (type acme) accepts at most 100 in one certificate'],
  },
  {
    name: "a huge value is quoted cut to 80 characters",
    toml: withCert(`id = "a"\ndomains = ["a.example"]\nca = "${"x".repeat(5_000_000)}"\ninstall = "files"\nkey_type = "${"é".repeat(100)}"`),
    problems: [`cert[0].ca: no [[ca]] named "${"x".repeat(79)}…"`, `cert[0].key_type: "${"é".repeat(79)}…" is not one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096`],
  },
  {
    name: "a huge unknown key is cut to 80 characters",
    toml: `${"k".repeat(1000)} = 1\n${GOOD}`,
    problems: [`${"k".repeat(79)}…: unknown key`],
  },
  {
    name: "a path longer than Linux allows is not echoed",
    toml: `[daemon]\nstate_dir = "/${"d".repeat(5000)}"\n${GOOD}`,
    problems: ["daemon.state_dir: path is 5001 bytes; Linux allows at most 4095"],
  },
];

describe("broken configs", () => {
  for (const c of BROKEN) {
    test(c.name, () => {
      expect(problemsOf(c.toml, c.env)).toEqual(c.problems);
    });
  }

  test("http.token_env with a trailing newline is trimmed as token_file's content is, not refused", () => {
    const value = "a-token-from-the-environment-0123\n";
    process.env.ROTA_TEST_TOKEN_NL = value;
    try {
      const ok = validateConfig(parse(`[http]\nlisten = "127.0.0.1:8844"\ntoken_env = "ROTA_TEST_TOKEN_NL"\n\n${withAcme("")}`), join(dir, "rota.toml"), { ROTA_TEST_TOKEN_NL: value });
      expect(ok.ok ? [] : ok.problems).toEqual([]);
    } finally {
      delete process.env.ROTA_TEST_TOKEN_NL;
    }
  });

  // check-config --allow-unset-env (install.sh): the service's environment is not this one.
  test("unsetEnvWarns: an unset *_env variable is a warning and the secret points at it; other problems stay problems", () => {
    const toml = `[http]\nlisten = "127.0.0.1:8844"\ntoken_env = "ROTA_TEST_TOKEN"\n\n${withAcme(`eab_kid = "kid-1"\neab_hmac_key_env = "ROTA_TEST_EAB"`)}`;
    const ok = validateConfig(parse(toml), join(dir, "rota.toml"), {}, { unsetEnvWarns: true });
    if (!ok.ok) throw new Error(ok.problems.join("\n"));
    expect(ok.warnings).toEqual([
      "ca[2].eab_hmac_key_env: environment variable ROTA_TEST_EAB is not set here; the service's environment must set it",
      "http.token_env: environment variable ROTA_TEST_TOKEN is not set here; the service's environment must set it",
    ]);
    expect(ok.config.cas[2]!.options).toMatchObject({ eab: { hmacKey: { from: "env", name: "ROTA_TEST_EAB" } } });
    const broken = validateConfig(parse(`${toml}\n[daemon]\nsurprise = 1\n`), join(dir, "rota.toml"), {}, { unsetEnvWarns: true });
    expect(broken.ok ? [] : broken.problems).toEqual(["daemon.surprise: unknown key"]);
  });

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
      maxAuthzFailures: 5,
      maxConcurrentRenewals: 4,
      renewalTimeoutSeconds: 1800,
      workerIdleSeconds: 60,
      workerMaxRenewals: 1000,
      expiryWarningDays: 14,
    });
    expect(config.audit).toEqual({ backend: "sqlite", path: join(DEFAULT_STATE_DIR, "rota.db"), retentionDays: 400 });
    expect(config.certs).toEqual([
      {
        id: "a",
        domains: ["a.example"],
        ca: "internal",
        dcv: undefined,
        install: ["files"],
        keyPath: join(DEFAULT_STATE_DIR, "keys", "a.key"),
        keyType: "ecdsa-p256",
        keyRotation: "never",
        renewThresholdDays: undefined,
      },
    ]);
  });

  test("a surrealdb audit store: its keys, defaults and the password as a reference", () => {
    const config = load(`[audit]\nbackend = "surrealdb"\nurl = "wss://db.example.net/rpc"\nusername = "rota"\npassword_file = "eab.key"\nca_bundle = "trust.pem"\n${GOOD}`);
    expect(config.audit).toEqual({
      backend: "surrealdb",
      url: "wss://db.example.net/rpc",
      namespace: "rota",
      database: "rota",
      username: "rota",
      password: { from: "file", path: join(dir, "eab.key") },
      authLevel: "database",
      caBundle: join(dir, "trust.pem"),
      connectTimeoutSeconds: 10,
      bufferMaxWrites: 10000,
      retentionDays: 400,
    });
  });

  test("the audit database and default key paths follow state_dir", () => {
    const config = load(`[daemon]\nstate_dir = "/srv/rota"\n${withCert(GOOD_CERT)}`);
    expect(config.audit).toMatchObject({ backend: "sqlite", path: "/srv/rota/rota.db" });
    expect(config.certs[0]!.keyPath).toBe("/srv/rota/keys/a.key");
  });

  test("relative paths resolve against the config file's folder", () => {
    const config = load(`[daemon]
state_dir = "state"
socket = "run/rota.sock"

[audit]
path = "db/audit.db"
retention_days = 36500
${withAcme(`ca_bundle = "trust.pem"\neab_kid = "kid-1"\neab_hmac_key_file = "eab.key"`, `id = "a"\ndomains = ["a.example"]\nca = "le"\ndcv = "web"\ninstall = "files"\nkey_path = "keys/a.pem"`)}`);
    expect(config.daemon.stateDir).toBe(join(dir, "state"));
    expect(config.daemon.socket).toBe(join(dir, "run/rota.sock"));
    expect(config.audit).toEqual({ backend: "sqlite", path: join(dir, "db/audit.db"), retentionDays: 36500 });
    expect(config.certs[0]!.keyPath).toBe(join(dir, "keys/a.pem"));
    expect(config.dcvs[0]!.options).toEqual({ path: join(dir, "www") });
    expect(config.installs[0]!.options).toEqual({ dir: join(dir, "out"), uid: undefined, gid: undefined });
    expect(config.cas[2]!.options).toEqual({
      directoryUrl: "https://z.example/dir",
      email: undefined,
      caBundle: join(dir, "trust.pem"),
      eab: { kid: "kid-1", hmacKey: { from: "file", path: join(dir, "eab.key") } },
    });
  });

  test("thresholds, wildcards, lists of targets, an EAB key from the environment", () => {
    const config = load(
      `[daemon]\nrenew_threshold_days = 20\n${withAcme(`eab_kid = "kid-1"\neab_hmac_key_env = "ROTA_TEST_EAB"`)}
[[install]]\nname = "more"\ntype = "filesystem"\ndir = "/srv/certs"\nowner = "65534"\ngroup = "65534"
[[cert]]\nid = "wild"\ndomains = ["*.Example.COM", "example.com"]\nca = "internal"\ninstall = ["files", "more"]\nrenew_threshold_days = 10\nkey_type = "rsa-2048"\nkey_rotation = "every_renewal"\n`,
      { ROTA_TEST_EAB: "c2VjcmV0" },
    );
    expect(config.daemon.renewThresholdDays).toBe(20);
    expect(config.cas[2]!.options).toMatchObject({ eab: { kid: "kid-1", hmacKey: { from: "env", name: "ROTA_TEST_EAB" } } });
    expect(config.installs[1]!.options).toEqual({ dir: "/srv/certs", uid: 65534, gid: 65534 });
    // A local CA proves no domain control, so a wildcard needs no dns-01 DCV.
    expect(config.certs[1]).toMatchObject({
      domains: ["*.example.com", "example.com"],
      dcv: undefined,
      install: ["files", "more"],
      renewThresholdDays: 10,
      keyType: "rsa-2048",
      keyRotation: "every_renewal",
    });
  });

  test("Unicode names become A-labels, a trailing dot goes, IP addresses are canonical", () => {
    const config = load(
      withCert(`id = "a"\ndomains = ["Bücher.Example.", "*.bücher.example", "xn--fa-hia.de", "127.0.0.1", "2001:DB8:0:0::1"]\nca = "internal"\ninstall = "files"`),
    );
    expect(config.certs[0]!.domains).toEqual(["xn--bcher-kva.example", "*.xn--bcher-kva.example", "xn--fa-hia.de", "127.0.0.1", "2001:db8::1"]);
    const acme = load(withCert(`id = "a"\ndomains = ["bücher.example", "192.0.2.1"]\nca = "le"\ndcv = "web"\ninstall = "files"`));
    expect(acme.certs[0]!.domains).toEqual(["xn--bcher-kva.example", "192.0.2.1"]);
  });

  test("an IP address under an ACME CA needs a DCV that solves http-01 (RFC 8738)", () => {
    DCV_TYPES["test-dns"] = { kinds: ["dns-01"], parse: () => ({}), create: () => Promise.reject(new Error("not built in this test")) };
    try {
      expect(problemsOf(`${SECTIONS}\n[[dcv]]\nname = "dns"\ntype = "test-dns"\n[[cert]]\nid = "a"\ndomains = ["a.example", "192.0.2.1", "2001:db8::1"]\nca = "le"\ndcv = "dns"\ninstall = "files"\n`)).toEqual([
        'cert[0].domains[1]: IP addresses need an http-01 DCV; dcv "dns" (type test-dns) solves dns-01',
        'cert[0].domains[2]: IP addresses need an http-01 DCV; dcv "dns" (type test-dns) solves dns-01',
      ]);
    } finally {
      delete DCV_TYPES["test-dns"];
    }
  });

  test("an ACME cert's profile reaches caOptions; a cert without one has no caOptions (issue 12 §4)", () => {
    const acme = `id = "p"\ndomains = ["p.example"]\nca = "le"\ndcv = "web"\ninstall = "files"`;
    expect(load(withCert(`${acme}\nprofile = "shortlived"`)).certs[0]!.caOptions).toEqual({ profile: "shortlived" });
    expect(load(withCert(acme)).certs[0]!.caOptions).toEqual({ profile: undefined });
    expect(load(GOOD).certs[0]!.caOptions).toBeUndefined();
    expect(load(withCert(`${acme}\nprofile = "${"a".repeat(64)}"`)).certs[0]!.caOptions).toEqual({ profile: "a".repeat(64) });
  });

  test("profile: a name of the pattern, and only on a CA type that takes one", () => {
    const acme = `id = "p"\ndomains = ["p.example"]\nca = "le"\ndcv = "web"\ninstall = "files"`;
    expect(problemsOf(withCert(`${GOOD_CERT}\nprofile = "shortlived"`))).toEqual(['cert[0].profile: ca "internal" (type local) takes no profile']);
    expect(problemsOf(withCert(`${acme}\nprofile = "short lived"`))).toEqual(['cert[0].profile: "short lived" must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}']);
    expect(problemsOf(withCert(`${acme}\nprofile = "-x"`))).toEqual(['cert[0].profile: "-x" must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}']);
    expect(problemsOf(withCert(`${acme}\nprofile = "${"a".repeat(65)}"`))).toEqual([`cert[0].profile: "${"a".repeat(65)}" must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}`]);
    expect(problemsOf(withCert(`${acme}\nprofile = 5`))).toEqual(["cert[0].profile: must be a string, not a number"]);
    // An unknown CA is reported once; its profile is not a second problem.
    expect(problemsOf(withCert(`id = "p"\ndomains = ["p.example"]\nca = "nope"\ninstall = "files"\nprofile = "x"`))).toEqual(['cert[0].ca: no [[ca]] named "nope"']);
  });

  test("a wildcard under an ACME CA is accepted with a DCV that solves dns-01", () => {
    DCV_TYPES["test-dns"] = { kinds: ["dns-01"], parse: () => ({}), create: () => Promise.reject(new Error("not built in this test")) };
    try {
      const config = load(`${SECTIONS}\n[[dcv]]\nname = "dns"\ntype = "test-dns"\n[[cert]]\nid = "wild"\ndomains = ["*.a.example", "a.example"]\nca = "le"\ndcv = "dns"\ninstall = "files"\n`);
      expect(config.certs[0]).toMatchObject({ domains: ["*.a.example", "a.example"], ca: "le", dcv: "dns" });
    } finally {
      delete DCV_TYPES["test-dns"];
    }
  });

  test("a target that holds one certificate serves one cert: a second naming it is refused, with the first named", () => {
    INSTALL_TYPES["test-single"] = { singleCert: true, parse: () => ({}), create: () => Promise.reject(new Error("not built in this test")) };
    try {
      const single = `${SECTIONS}\n[[install]]\nname = "nas"\ntype = "test-single"\n`;
      const cert = (id: string, install: string) => `\n[[cert]]\nid = "${id}"\ndomains = ["${id}.example"]\nca = "internal"\ninstall = ${install}\n`;
      expect(load(`${single}${cert("www", '["files", "nas"]')}${cert("api", '"files"')}`).certs.map((c) => c.install)).toEqual([["files", "nas"], ["files"]]);
      expect(problemsOf(`${single}${cert("www", '"nas"')}${cert("api", '["files", "nas"]')}`)).toEqual([
        'cert[1].install[1]: install "nas" (type test-single) holds one certificate; cert "www" already uses it',
      ]);
    } finally {
      delete INSTALL_TYPES["test-single"];
    }
  });

  test("100 names for an ACME CA, and more for the local CA", () => {
    const names = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => `n${i}.example`));
    const config = load(withCert(`id = "a"\ndomains = ${names(100)}\nca = "le"\ndcv = "web"\ninstall = "files"\n\n[[cert]]\nid = "b"\ndomains = ${names(150)}\nca = "internal"\ninstall = "files"`));
    expect(config.certs.map((c) => c.domains.length)).toEqual([100, 150]);
  });

  test("a key beside the webroot, not inside it, is fine", () => {
    const config = load(withCert(`${GOOD_CERT}\nkey_path = "www-keys/a.key"`));
    expect(config.certs[0]!.keyPath).toBe(join(dir, "www-keys/a.key"));
  });

  test("bounds and paths that are fine at their limits", () => {
    const socketDir = mkdtempSync(join(tmpdir(), "rota-sock-"));
    const socket = join(socketDir, "live.sock");
    const listener = Bun.listen({ unix: socket, socket: { data() {} } });
    const longSocket = `/${"s".repeat(101)}.sock`; // 107 bytes
    try {
      const config = load(
        `[daemon]\nstate_dir = "a-folder"\nsocket = ${JSON.stringify(socket)}\ncheck_interval_seconds = 604800\nrenew_threshold_days = 3650
failure_cooldown_seconds = 2592000\nfailure_cooldown_max_seconds = 2592000\n${withCert(`id = "${"a".repeat(64)}"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"\nkey_path = "eab.key"\nrenew_threshold_days = 1`)}`,
      );
      expect(config.daemon).toMatchObject({ stateDir: join(dir, "a-folder"), socket, checkIntervalSeconds: 604800, renewThresholdDays: 3650 });
      expect(config.certs[0]).toMatchObject({ id: "a".repeat(64), keyPath: join(dir, "eab.key"), renewThresholdDays: 1 });
      expect(load(`[daemon]\nsocket = "${longSocket}"\n${GOOD}`).daemon.socket).toBe(longSocket);
    } finally {
      listener.stop(true);
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});

describe("what validated of a config with problems", () => {
  test("is kept with where each section is in the file, gaps and all, for check-config's machine checks", () => {
    const text = `${SECTIONS}\n[[ca]]\nname = "gone"\ntype = "nope"\n\n[[ca]]\nname = "more-local"\ntype = "local"\n\n[[install]]\nname = "broken"\ntype = "nope"\n\n[[install]]\nname = "more"\ntype = "filesystem"\ndir = "more"\n\n[[cert]]\nid = "Bad/Id"\n\n[[cert]]\n${GOOD_CERT}\n`;
    let err: unknown;
    try {
      parseConfigText(new TextEncoder().encode(text), FILE, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const partial = (err as ConfigError).partial!;
    expect(partial.keys).toEqual({ certs: ["cert[1]"], installs: ["install[0]", "install[2]"], cas: ["ca[0]", "ca[1]", "ca[3]"] });
    expect(partial.config.certs.map((c) => c.id)).toEqual(["a"]);
    expect(partial.config.installs.map((s) => s.name)).toEqual(["files", "more"]);
    expect(partial.config.cas.map((s) => s.name)).toEqual(["le", "internal", "more-local"]);
  });
});
