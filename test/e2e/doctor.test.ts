/**
 * End to end: `rota doctor` on the compiled binary (issue 15 §5). README's quickstart with
 * its daemon up is all `ok` (exit 0); a broken copy names each problem with its hint (exit
 * 1); an invalid config is exit 2, an unknown cert id 4, a stopped daemon 3; `--json` has the
 * issue's shape; `--offline` contacts nothing. A dsm target on the fake DSM with a wrong
 * password FAILs and leaves no latch; a k8s-secret target on the fake API server passes its
 * GET and dry-run apply; no canary secret reaches the output. Pebble's HTTPS directory is
 * trusted through `ca_bundle` alone, and without it fails naming `ca_bundle`. A namecheap CA
 * asks about each cert's configured id before any renewal; every backend type in one config
 * has its own check; a daemon of another version is a warning; a `*_env` secret unset in the
 * shell is a warning and skips its backends; and the state folder hashes the same before and
 * after doctor.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeDsm, type FakeDsm } from "../fakes/dsm.ts";
import { startFakeKube, type FakeKube } from "../fakes/kube-apiserver.ts";
import { startFakeNamecheapSsl, type FakeNamecheap } from "../fakes/namecheap.ts";
import type { FakeSsl } from "../fakes/namecheap-ssl.ts";
import { freePort, makeTempDir, removeTempDir, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { treeDigest, waitForFile } from "./helpers.ts";

const repo = join(import.meta.dir, "..", "..");
const NOBODY = 65534;
const DSM_PASSWORD = `dsm-canary-${crypto.randomUUID()}`;
const KUBE_TOKEN = `kube-canary-${crypto.randomUUID()}`;
const NC_KEY = `nc-canary-${crypto.randomUUID().replace(/-/g, "")}`;
let dir: string;
let quickstart: string;
let daemon: Daemon;
let dsm: FakeDsm;
let kube: FakeKube;
let world: World;
let nc: FakeNamecheap & { ssl: FakeSsl };

interface Json {
  ok: boolean;
  exit_code: number;
  checks: { id: string; status: string; message: string; hint: string | null }[];
}

beforeAll(async () => {
  dir = makeTempDir("rota-doctor-");
  // README's quickstart, in the checkout's relative layout.
  mkdirSync(join(dir, "examples"));
  quickstart = join(dir, "examples", "quickstart.toml");
  copyFileSync(join(repo, "examples", "quickstart.toml"), quickstart);
  daemon = startDaemon(quickstart, { logDir: dir });
  await waitForFile(join(dir, "quickstart", "certs", "intranet", "fullchain.pem"));
  dsm = await startFakeDsm({ users: [{ account: "rota", password: "the-right-one", admin: true }], restartMs: 0 });
  const kubeDir = join(dir, "kube");
  mkdirSync(kubeDir);
  kube = startFakeKube({ dir: kubeDir });
  kube.tokens.add(KUBE_TOKEN);
  world = await startWorld();
  nc = await startFakeNamecheapSsl({ apiKey: NC_KEY });
  nc.zones.set("nc.test", { emailType: "FWD", isUsingOurDns: true, hosts: [] });
  await nc.ssl.seed({ id: 1001, status: "active", names: ["shop.nc.test"] });
  await nc.ssl.seed({ id: 2001, status: "newpurchase" });
});

afterAll(async () => {
  await daemon?.stop();
  await dsm?.stop();
  await kube?.stop();
  await world?.stop();
  await nc?.stop();
  removeTempDir(dir);
});

const doctor = (...args: string[]) => runRota(["doctor", ...args]);
const doctorEnv = (env: Record<string, string | undefined>, ...args: string[]) => runRota(["doctor", ...args], { env });
const lines = (stdout: string) => stdout.trimEnd().split("\n");

test("the quickstart with its daemon up: every check ok, exit 0", async () => {
  const r = await doctor("--config", quickstart);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const ids = lines(r.stdout).map((l) => l.split("  ").slice(0, 2));
  expect(ids).toEqual([
    ["ok", "config"],
    ["ok", "state_dir"],
    ["ok", "keys"],
    ["ok", "audit"],
    ["ok", "daemon"],
    ["ok", "ca:internal"],
    ["ok", "install:files"],
  ]);
  expect(r.stdout).toContain(`ok  daemon  rota `);
});

test("--json: the issue's shape, the same checks", async () => {
  const r = await doctor("--config", quickstart, "--json");
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as Json;
  expect(out.ok).toBe(true);
  expect(out.exit_code).toBe(0);
  expect(out.checks.map((c) => [c.id, c.status, c.hint])).toEqual([
    ["config", "ok", null],
    ["state_dir", "ok", null],
    ["keys", "ok", null],
    ["audit", "ok", null],
    ["daemon", "ok", null],
    ["ca:internal", "ok", null],
    ["install:files", "ok", null],
  ]);
  for (const c of out.checks) expect(Object.keys(c)).toEqual(["id", "status", "message", "hint"]);
});

test("a daemon of another version on --socket: warn restart it, exit 0 (a warning alone)", async () => {
  const socket = join(dir, "other.sock");
  const other = Bun.serve({
    unix: socket,
    fetch: (req) => (new URL(req.url).pathname === "/healthz" ? new Response("ok") : Response.json({ version: "0.0.1", pid: 7 })),
  });
  try {
    const r = await doctor("--config", quickstart, "--socket", socket);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^warn {2}daemon {2}the daemon at \S+other\.sock runs rota 0\.0\.1, this binary is \S+: restart it\nhint: systemctl restart rota/m);
    expect(r.stdout).not.toContain("FAIL");
  } finally {
    other.stop(true);
  }
});

test("*_env secrets unset in the operator's shell: a warning each, their backends skipped, not a config error; set, they are checked", async () => {
  const config = join(dir, "examples", "unset-env.toml");
  writeFileSync(
    config,
    readFileSync(quickstart, "utf8") +
      `\n[[dcv]]\nname = "cf"\ntype = "cloudflare"\napi_token_env = "ROTA_DOCTOR_UNSET_CF"\napi_url = "http://127.0.0.1:1/client/v4"\n` +
      `\n[[alert]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:1/hook"\nsecret_env = "ROTA_DOCTOR_UNSET_HOOK"\n`,
  );
  const unset = await doctorEnv({ ROTA_DOCTOR_UNSET_CF: undefined, ROTA_DOCTOR_UNSET_HOOK: undefined }, "--config", config, "--json");
  expect(unset.stderr).toBe("");
  const out = JSON.parse(unset.stdout) as Json;
  expect(out.exit_code).toBe(0);
  const warned = out.checks.filter((c) => c.id === "config" && c.status === "warn").map((c) => c.message);
  expect(warned).toContain("dcv[0].api_token_env: environment variable ROTA_DOCTOR_UNSET_CF is not set here; the service's environment must set it");
  expect(warned).toContain("alert[0].secret_env: environment variable ROTA_DOCTOR_UNSET_HOOK is not set here; the service's environment must set it");
  const skipped = out.checks.filter((c) => c.id === "dcv:cf" || c.id === "alert:hook");
  expect(skipped.map((c) => [c.id, c.status, c.message])).toEqual([
    ["dcv:cf", "skip", "not checked: ROTA_DOCTOR_UNSET_CF is not set in this shell"],
    ["alert:hook", "skip", "not checked: ROTA_DOCTOR_UNSET_HOOK is not set in this shell"],
  ]);
  expect(skipped[0]!.hint).toContain("run doctor again");
  expect(out.checks.find((c) => c.id === "ca:internal")?.status).toBe("ok");

  const set = await doctorEnv({ ROTA_DOCTOR_UNSET_CF: "cf-canary-0123456789", ROTA_DOCTOR_UNSET_HOOK: "hook-canary-0123456789" }, "--config", config, "--json");
  const checked = JSON.parse(set.stdout) as Json;
  expect(checked.checks.filter((c) => c.status === "warn" && c.id === "config")).toEqual([]);
  expect(checked.checks.find((c) => c.id === "dcv:cf")?.message).not.toContain("not checked");
  expect(set.stdout).not.toContain("cf-canary");
  expect(set.stdout).not.toContain("hook-canary");
});

test("an unknown cert id: exit 4, before any other check", async () => {
  const r = await doctor("nope", "--config", quickstart);
  expect(r.code).toBe(4);
  expect(r.stdout).toContain('FAIL  cert  no cert with id "nope"');
  expect(r.stdout).toContain("(certs: intranet)");
  const json = JSON.parse((await doctor("nope", "--config", quickstart, "--json")).stdout) as Json;
  expect(json).toMatchObject({ ok: false, exit_code: 4 });
});

test("--user naming nobody in /etc/passwd, with a valid config: a usage error, exit 2, before any check", async () => {
  const r = await doctor("--config", quickstart, "--user", "no-such-user-here");
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim()).toBe('rota: --user "no-such-user-here": no such user in /etc/passwd');
  // An unknown CERT_ID too: 2 comes first.
  expect((await doctor("nope", "--config", quickstart, "--user", "no-such-user-here")).code).toBe(2);
});

test("an invalid config: exit 2, the key named, the rest skipped", async () => {
  const bad = join(dir, "bad.toml");
  writeFileSync(bad, '[daemon]\nstate_dir = "s"\ncheck_interval_seconds = "often"\n');
  const r = await doctor("--config", bad);
  expect(r.code).toBe(2);
  const out = lines(r.stdout);
  expect(out[0]).toStartWith(`FAIL  config  ${bad}: daemon.check_interval_seconds: `);
  expect(out.at(-1)).toBe("hint: fix the config; the other checks run once it is valid");
  expect(r.stdout).not.toContain("state_dir  ");
  const json = JSON.parse((await doctor("--config", bad, "--json")).stdout) as Json;
  expect(json).toMatchObject({ ok: false, exit_code: 2 });
  expect(new Set(json.checks.map((c) => `${c.id} ${c.status}`))).toEqual(new Set(["config fail"]));
  expect((await doctor("--config", bad, "--user", "no-such-user-here")).code).toBe(2);
});

test("broken: state_dir 0755, a key 0644, an install folder the service user cannot write, an ACME directory nobody answers: exit 1, each with its hint", async () => {
  const at = join(dir, "broken");
  for (const d of ["state/keys", "www", "certs"]) mkdirSync(join(at, d), { recursive: true });
  const key = join(at, "state", "keys", "app.key");
  const gen = Bun.spawnSync(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  expect(gen.exitCode).toBe(0);
  const port = await freePort();
  const config = join(at, "rota.toml");
  writeFileSync(
    config,
    `[daemon]
state_dir = "state"
socket = "rota.sock"

[[ca]]
name = "le"
type = "acme"
directory_url = "http://127.0.0.1:${port}/dir"

[[dcv]]
name = "web"
type = "webroot"
path = "www"

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[[cert]]
id = "app"
domains = ["app.example.test"]
ca = "le"
dcv = "web"
install = "files"
key_path = "state/keys/app.key"
`,
  );
  // The service user is the owner of state_dir: nobody, who owns all but the install folder.
  for (const p of [at, join(at, "state"), join(at, "state", "keys"), key, join(at, "www")]) chownSync(p, NOBODY, NOBODY);
  chmodSync(join(at, "state"), 0o755);
  chmodSync(key, 0o644);
  chmodSync(join(at, "certs"), 0o755);

  const r = await doctor("--config", config);
  expect(r.code).toBe(1);
  const out = r.stdout;
  const state = join(at, "state");
  expect(out).toContain(`FAIL  state_dir  ${state} has mode 0755, not 0700: keys and the audit trail live there\nhint: chmod 700 ${state}`);
  expect(out).toContain(`FAIL  keys  cert app key_path ${key} has mode 0644, not 0600\nhint: chmod 600 ${key}`);
  expect(out).toContain(`FAIL  install:files  ${join(at, "certs")} (owner 0:0, 0755) is not writable by nobody\nhint: give the folder to the service user`);
  expect(out).toContain(`ReadWritePaths=${join(at, "certs")}`);
  expect(out).toMatch(new RegExp(`FAIL  ca:le  directory http://127\\.0\\.0\\.1:${port}/dir unreachable: .+\\nhint: check directory_url`));
  expect(out).toContain(`ok  dcv:web  ${join(at, "www", ".well-known", "acme-challenge")} writable by nobody`);
  expect(out).toContain("warn  daemon  not reachable at");

  // --offline: the directory is not fetched; the local problems stay.
  const offline = await doctor("--config", config, "--offline", "--json");
  const json = JSON.parse(offline.stdout) as Json;
  expect(json.exit_code).toBe(1);
  expect(json.checks.find((c) => c.id === "ca:le")).toEqual({ id: "ca:le", status: "skip", message: `offline: directory http://127.0.0.1:${port}/dir not fetched`, hint: null });
  expect(json.checks.filter((c) => c.status === "fail").map((c) => c.id)).toEqual(["state_dir", "keys", "install:files"]);

  // Narrowed to a cert: its key and backends, the same findings.
  expect((await doctor("app", "--config", config)).code).toBe(1);
});

test("dsm with a wrong password: FAIL, no latch written; k8s-secret: GET and dry-run apply pass; no secret in the output", async () => {
  const at = join(dir, "vendors");
  mkdirSync(at);
  const passwordFile = join(at, "dsm.pass");
  writeFileSync(passwordFile, `${DSM_PASSWORD}\n`, { mode: 0o600 });
  const kubeconfig = join(at, "kubeconfig");
  writeFileSync(kubeconfig, kube.kubeconfig({ user: { token: KUBE_TOKEN } }), { mode: 0o600 });
  const config = join(at, "rota.toml");
  writeFileSync(
    config,
    `[daemon]
state_dir = "state"
socket = "rota.sock"

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "nas"
type = "dsm"
url = "${dsm.url}"
username = "rota"
password_file = ${JSON.stringify(passwordFile)}
description = "rota"

[[install]]
name = "cluster"
type = "k8s-secret"
secret_name = "www-tls"
namespace = "web"
kubeconfig = ${JSON.stringify(kubeconfig)}

[[cert]]
id = "www"
domains = ["www.home.arpa"]
ca = "internal"
install = ["nas", "cluster"]
`,
  );
  const r = await doctor("--config", config);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/^FAIL {2}install:nas {2}login refused: dsm nas: /m);
  expect(r.stdout).toContain("ok  install:nas  not latched");
  expect(r.stdout).toContain("ok  install:cluster  secret web/www-tls does not exist yet: the first install creates it");
  expect(r.stdout).toContain("ok  install:cluster  a server-side apply of secret web/www-tls would be accepted (dryRun=All)");
  expect(existsSync(join(at, "state", "dsm", "nas", "auth-blocked.json"))).toBe(false);
  expect(dsm.calls("SYNO.Core.Certificate import")).toEqual([]);
  expect(kube.requests.filter((q) => q.method === "PATCH").map((q) => q.query.dryRun)).toEqual(["All"]);
  expect(kube.secret("web", "www-tls")).toBeUndefined();
  for (const text of [r.stdout, r.stderr, (await doctor("--config", config, "--json")).stdout]) {
    expect(text).not.toContain(DSM_PASSWORD);
    expect(text).not.toContain(KUBE_TOKEN);
  }

  // --offline: neither DSM nor the API server hears from doctor.
  const before = { dsm: dsm.requests.length, kube: kube.requests.length };
  const offline = await doctor("--config", config, "--offline");
  expect(offline.stdout).toContain("skip  install:nas  offline:");
  expect(offline.stdout).toContain("skip  install:cluster  offline: the API server not contacted");
  expect({ dsm: dsm.requests.length, kube: kube.requests.length }).toEqual(before);
  // No FAIL left, the daemon not running: exit 3.
  expect(offline.code).toBe(3);
});

test("a namecheap CA before its first renewal: getInfo on each cert's configured id, a wrong id a FAIL; CERT_ID narrows the ids asked; the API key never shown", async () => {
  const at = join(dir, "namecheap");
  mkdirSync(at);
  const keyFile = join(at, "nc.key");
  writeFileSync(keyFile, `${NC_KEY}\n`, { mode: 0o600 });
  const config = join(at, "rota.toml");
  const api = `api_user = "alice"\napi_key_file = ${JSON.stringify(keyFile)}\nclient_ip = "203.0.113.7"\napi_url = "${nc.url}"`;
  const cert = (id: string, certificateId: number) => `[[cert]]\nid = "${id}"\ndomains = ["${id}.nc.test"]\nca = "nc-ssl"\ndcv = "nc"\ninstall = "files"\nnamecheap_certificate_id = ${certificateId}\n`;
  mkdirSync(join(at, "certs"));
  writeFileSync(
    config,
    `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"\n\n[[ca]]\nname = "nc-ssl"\ntype = "namecheap"\nadmin_email = "ops@example.test"\n${api}\n\n[[dcv]]\nname = "nc"\ntype = "namecheap"\n${api}\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "certs"\n\n${cert("shop", 1001)}\n${cert("fresh", 2001)}\n${cert("typo", 9999)}`,
  );
  nc.requests.length = 0;
  const r = await doctor("--config", config);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain("ok  ca:nc-ssl  namecheap nc-ssl: cert shop: certificate 1001 is active");
  expect(r.stdout).toContain("ok  ca:nc-ssl  namecheap nc-ssl: cert fresh: certificate 2001 is newpurchase (Certificate is not activated): the first renewal activates it");
  expect(r.stdout).toMatch(/^FAIL {2}ca:nc-ssl {2}namecheap nc-ssl: namecheap\.ssl\.getInfo: error 2011294: SSL certificate 9999 not found.* \(cert typo, certificate 9999\)$/m);
  expect(r.stdout).toContain("ok  dcv:nc  the API accepts user alice");
  const asked = () => nc.requests.filter((q) => q.command === "namecheap.ssl.getInfo").map((q) => q.params.CertificateID);
  expect(asked()).toEqual(["1001", "2001", "9999"]);
  expect(nc.requests.every((q) => q.command === "namecheap.ssl.getInfo" || q.command === "namecheap.domains.getList")).toBe(true);

  nc.requests.length = 0;
  const shop = await doctor("shop", "--config", config, "--json");
  expect(asked()).toEqual(["1001"]);
  expect((JSON.parse(shop.stdout) as Json).checks.filter((c) => c.id === "ca:nc-ssl").map((c) => c.status)).toEqual(["ok"]);
  for (const text of [r.stdout, r.stderr, shop.stdout, shop.stderr]) expect(text).not.toContain(NC_KEY);
  expect(existsSync(join(at, "state", "namecheap"))).toBe(false);
});

test("every backend type in one config, --offline --json: each section checked in order by its own check, nothing contacted", async () => {
  const at = join(dir, "every");
  for (const d of ["www", "certs", "nginx", "hap"]) mkdirSync(join(at, d), { recursive: true });
  const secret = join(at, "secret");
  writeFileSync(secret, "every-canary-0123456789\n", { mode: 0o600 });
  const kubeconfig = join(at, "kubeconfig");
  writeFileSync(kubeconfig, kube.kubeconfig({ user: { token: KUBE_TOKEN } }), { mode: 0o600 });
  const nowhere = "127.0.0.1:1";
  const namecheap = `api_user = "alice"\napi_key_file = "secret"\nclient_ip = "203.0.113.7"\napi_url = "http://${nowhere}/xml.response"`;
  writeFileSync(
    join(at, "rota.toml"),
    [
      `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"`,
      `[[ca]]\nname = "le"\ntype = "acme"\ndirectory_url = "http://${nowhere}/dir"`,
      `[[ca]]\nname = "internal"\ntype = "local"`,
      `[[ca]]\nname = "ncssl"\ntype = "namecheap"\nadmin_email = "ops@example.test"\n${namecheap}`,
      `[[dcv]]\nname = "web"\ntype = "webroot"\npath = "www"`,
      `[[dcv]]\nname = "cf"\ntype = "cloudflare"\napi_token_file = "secret"\napi_url = "http://${nowhere}/client/v4"`,
      `[[dcv]]\nname = "nc"\ntype = "namecheap"\n${namecheap}`,
      `[[install]]\nname = "files"\ntype = "filesystem"\ndir = "certs"`,
      `[[install]]\nname = "ngx"\ntype = "nginx"\ndir = "nginx"\ntest_command = ["true"]\nreload_command = ["true"]`,
      `[[install]]\nname = "hap"\ntype = "haproxy"\ndir = "hap"\nsockets = ["${nowhere}"]`,
      `[[install]]\nname = "nas"\ntype = "dsm"\nurl = "http://${nowhere}"\nusername = "rota"\npassword_file = "secret"\ndescription = "rota"`,
      `[[install]]\nname = "kube"\ntype = "k8s-secret"\nsecret_name = "www-tls"\nnamespace = "web"\nkubeconfig = ${JSON.stringify(kubeconfig)}`,
      `[[alert]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nfrom = "rota@example.test"\nto = ["ops@example.test"]\nusername = "rota"\npassword_file = "secret"`,
      `[[alert]]\nname = "hook"\ntype = "webhook"\nurl = "http://${nowhere}/hook"\nsecret_file = "secret"`,
      `[[cert]]\nid = "a"\ndomains = ["a.example.test"]\nca = "le"\ndcv = "web"\ninstall = ["files", "ngx", "hap"]`,
      `[[cert]]\nid = "b"\ndomains = ["b.example.test"]\nca = "internal"\ninstall = ["nas"]`,
      `[[cert]]\nid = "c"\ndomains = ["c.example.test"]\nca = "ncssl"\ndcv = "cf"\ninstall = ["kube"]\nnamecheap_certificate_id = 12345`,
      `[[cert]]\nid = "d"\ndomains = ["d.example.test"]\nca = "le"\ndcv = "nc"\ninstall = ["files"]`,
    ].join("\n\n") + "\n",
  );
  const kubeBefore = kube.requests.length;
  const r = await doctor("--config", join(at, "rota.toml"), "--offline", "--json");
  const out = JSON.parse(r.stdout) as Json;
  expect(r.stderr).toBe("");
  expect(out.exit_code).toBe(3);
  const sections = [...new Set(out.checks.map((c) => c.id))].filter((id) => id.includes(":"));
  expect(sections).toEqual(["ca:le", "ca:internal", "ca:ncssl", "dcv:web", "dcv:cf", "dcv:nc", "install:files", "install:ngx", "install:hap", "install:nas", "install:kube", "alert:mail", "alert:hook"]);
  // Each type has its own check: none falls back to "has no self-check", none fails offline.
  expect(out.checks.filter((c) => c.message.includes("no self-check") || c.status === "fail")).toEqual([]);
  expect(out.checks.filter((c) => c.status === "skip").map((c) => c.id)).toEqual(["ca:le", "ca:ncssl", "dcv:cf", "dcv:nc", "install:hap", "install:nas", "install:kube", "alert:mail", "alert:hook"]);
  expect(kube.requests.length).toBe(kubeBefore);
  expect(r.stdout).not.toContain("every-canary");
  expect(existsSync(join(at, "state"))).toBe(false);
});

test("pebble's directory over HTTPS: trusted through ca_bundle alone; without it, a FAIL that names ca_bundle", async () => {
  const config = world.writeConfig();
  const r = await doctorEnv(world.env, "--config", config);
  expect(r.stdout).toContain(`ok  ca:pebble  directory ${world.pebble.directoryUrl} answers`);
  expect(r.stdout).toContain(`ok  dcv:web  ${join(world.webroot, ".well-known", "acme-challenge")} writable by root`);
  // Nothing registered: the directory GET is all doctor asks of the CA.
  expect(existsSync(join(world.stateDir, "acme"))).toBe(false);
  writeFileSync(config, readFileSync(config, "utf8").replace(/^ca_bundle = .*\n/m, ""));
  const u = await doctorEnv(world.env, "--config", config);
  expect(u.code).toBe(1);
  expect(u.stdout).toMatch(new RegExp(`FAIL  ca:pebble  directory ${world.pebble.directoryUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} unreachable: .+\nhint: check directory_url and this machine's network; a private CA needs ca_bundle`));
});

test("the daemon stopped: warn restart it, exit 3; doctor leaves the state folder as it was, byte for byte", async () => {
  await daemon.stop();
  const state = join(dir, "quickstart", "state");
  const before = treeDigest(state);
  const r = await doctor("--config", quickstart);
  expect(r.code).toBe(3);
  expect(r.stdout).toMatch(/^warn {2}daemon {2}not reachable at .*rota\.sock: .*; restart it$/m);
  expect(r.stdout).not.toContain("FAIL");
  await doctor("intranet", "--config", quickstart, "--json");
  await doctor("--config", quickstart, "--user", "nobody");
  // A read-only open of the WAL database would leave root's -wal and -shm beside it.
  expect(readdirSync(state).filter((f) => f.startsWith("rota.db"))).toEqual(["rota.db"]);
  expect(treeDigest(state)).toBe(before);
});

// An independent tester's finding: two blocks titled targets.conf, one per target, of which a copy in turn kept the second.
test("--user nobody, an nginx and a haproxy folder it cannot write: ONE targets.conf listing both folders and what nginx -t and its reload need, each capability once; chgrp to nogroup", async () => {
  const at = join(dir, "two-targets");
  for (const d of ["nginx-certs", "hap-certs"]) mkdirSync(join(at, d), { recursive: true, mode: 0o755 });
  // A stand-in named nginx that passes: the warnings are about the service user, not the result.
  const nginx = join(at, "nginx");
  writeFileSync(nginx, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  writeFileSync(
    join(at, "rota.toml"),
    [
      `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"`,
      `[[ca]]\nname = "internal"\ntype = "local"`,
      `[[install]]\nname = "web"\ntype = "nginx"\ndir = "nginx-certs"\ntest_command = ["${nginx}", "-t"]\nreload_command = ["${nginx}", "-s", "reload"]`,
      `[[install]]\nname = "lb"\ntype = "haproxy"\ndir = "hap-certs"\nsockets = ["127.0.0.1:1"]`,
      `[[cert]]\nid = "www"\ndomains = ["www.test"]\nca = "internal"\ninstall = ["web", "lb"]`,
    ].join("\n\n") + "\n",
  );
  const r = await doctor("--config", join(at, "rota.toml"), "--user", "nobody", "--offline");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(1);
  const [web, lb] = [join(at, "nginx-certs"), join(at, "hap-certs")];
  expect(r.stdout.split("[Service]")).toHaveLength(2);
  expect(r.stdout.split("targets.conf (one file")).toHaveLength(2);
  expect(r.stdout).toContain(
    [
      `FAIL  install:web  ${web} (owner 0:0, 0755) is not writable by nobody`,
      `hint: give the folder to the service user's group (chgrp nogroup ${web} && chmod 2770 ${web}; under systemd the drop-in's ReadWritePaths= is still needed, its capabilities are not); or under systemd, add /etc/systemd/system/rota.service.d/targets.conf (one file, for every finding that needs it):`,
      "      [Service]",
      `      ReadWritePaths=${web} /var/log/nginx /run ${lb}`,
      "      AmbientCapabilities=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_KILL CAP_NET_BIND_SERVICE",
      "      CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_KILL CAP_NET_BIND_SERVICE",
      "      then: systemctl daemon-reload && systemctl restart rota (docs/install.md)",
    ].join("\n"),
  );
  expect(r.stdout).toContain(
    `FAIL  install:lb  ${lb} (owner 0:0, 0755) is not writable by nobody\nhint: give the folder to the service user's group (chgrp nogroup ${lb} && chmod 2770 ${lb}; under systemd the drop-in's ReadWritePaths= is still needed, its capabilities are not); or under systemd, the drop-in /etc/systemd/system/rota.service.d/targets.conf shown under install:web above covers this too\n`,
  );
  expect(r.stdout).not.toContain("chgrp nobody");
});
