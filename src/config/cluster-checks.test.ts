/**
 * @module What cluster mode refuses before a start, on real files: the config's problems
 * from validation, the machine's from the pre-start checks (fatal: a start and `rota
 * check-config` exit 2), each line exact, and none of it when `[cluster]` is off.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPem } from "../crypto/keys.ts";
import { ConfigError, loadConfig } from "./load.ts";
import { preflight, type PreflightReport } from "./preflight.ts";

let dir: string;
let state: string;
const NEVER = "in cluster mode rota never generates a key: copy the cert's key to every node";
const ENV = { DB_PASS: "secret", NC_KEY: "k3y" };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-cluster-checks-"));
  state = join(dir, "state");
  mkdirSync(join(state, "keys"), { recursive: true });
  mkdirSync(join(dir, "www"));
  writeFileSync(join(state, "keys", "www.key"), generateKeyPem("ecdsa-p256"), { mode: 0o600 });
  writeFileSync(join(dir, "p384.key"), generateKeyPem("ecdsa-p384"));
  writeFileSync(join(dir, "ed25519.key"), generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  writeFileSync(join(dir, "notes.txt"), "my notes\n");
  // A path that cannot be read: stat fails with ELOOP (root reads through any mode).
  symlinkSync(join(dir, "loop.key"), join(dir, "loop.key"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SURREAL = `[audit]\nbackend = "surrealdb"\nurl = "ws://127.0.0.1:1/rpc"\nusername = "rota"\npassword_env = "DB_PASS"\n`;

interface Options {
  cluster?: string;
  audit?: string;
  /** More `[[ca]]` sections after `le` (ca[0]). */
  cas?: string;
  /** Keys of cert[0] (`www`, on `le`) after its id, domains, ca, dcv, install. */
  cert?: string;
}

function write(o: Options = {}): string {
  const file = join(dir, "rota.toml");
  writeFileSync(
    file,
    `[daemon]
state_dir = ${JSON.stringify(state)}
socket = ${JSON.stringify(join(dir, "rota.sock"))}
${o.audit ?? SURREAL}
[cluster]
${o.cluster ?? "enabled = true\nnode_id = \"nas-1\""}

[[ca]]
name = "le"
type = "acme"
directory_url = "https://acme.example/directory"
${o.cas ?? ""}

[[dcv]]
name = "web"
type = "webroot"
path = ${JSON.stringify(join(dir, "www"))}

[[install]]
name = "files"
type = "filesystem"
dir = ${JSON.stringify(join(dir, "certs"))}

[[cert]]
id = "www"
domains = ["www.example.com"]
ca = "le"
dcv = "web"
install = "files"
${o.cert ?? ""}
`,
  );
  return file;
}

function check(o: Options = {}): PreflightReport {
  return preflight(loadConfig(write(o), ENV));
}

/** The ConfigError validation throws for a config. */
function refusal(o: Options): ConfigError {
  try {
    loadConfig(write(o), ENV);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("config was accepted");
}

const problemsOf = (o: Options) => refusal(o).problems;

const LOCAL = `\n[[ca]]\nname = "internal"\ntype = "local"\n`;
const NAMECHEAP = `\n[[ca]]\nname = "nc-ssl"\ntype = "namecheap"\napi_user = "alice"\napi_key_env = "NC_KEY"\nclient_ip = "203.0.113.7"\nadmin_email = "ops@example.com"\n`;

describe("cluster mode before a start", () => {
  test("a config cluster mode can run: nothing said", () => {
    expect(check()).toEqual({ fatal: [], certs: [], warnings: [] });
  });

  test("cluster mode on SQLite: refused by validation", () => {
    expect(problemsOf({ audit: "" })).toEqual([`cluster.enabled: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database`]);
  });

  test("a missing key is never generated: fatal, where one node alone would create it", () => {
    const key = join(state, "keys", "gone.key");
    expect(check({ cert: `key_path = ${JSON.stringify(key)}` })).toEqual({ fatal: [`cert[0].key_path: ${key} does not exist; ${NEVER}`], certs: [], warnings: [] });
    expect(check({ cluster: "enabled = false", cert: `key_path = ${JSON.stringify(key)}` })).toEqual({ fatal: [], certs: [], warnings: [] });
  });

  test("a key that cannot be read, or is not a key, is fatal", () => {
    const loop = join(dir, "loop.key");
    const notes = join(dir, "notes.txt");
    expect(check({ cert: `key_path = ${JSON.stringify(loop)}` }).fatal).toEqual([`cert[0].key_path: cannot read ${loop} (too many symbolic links encountered); ${NEVER}`]);
    expect(check({ cert: `key_path = ${JSON.stringify(notes)}` }).fatal).toEqual([`cert[0].key_path: ${notes} is not a private key; ${NEVER}`]);
  });

  test("a key of another type is fatal, not replaced", () => {
    const p384 = join(dir, "p384.key");
    const ed = join(dir, "ed25519.key");
    expect(check({ cert: `key_path = ${JSON.stringify(p384)}` })).toEqual({ fatal: [`cert[0].key_path: ${p384} holds an ecdsa-p384 key; key_type is ecdsa-p256`], certs: [], warnings: [] });
    expect(check({ cert: `key_path = ${JSON.stringify(ed)}\nkey_type = "rsa-2048"` }).fatal).toEqual([`cert[0].key_path: ${ed} holds a key of another type; key_type is rsa-2048`]);
    // Off, the same key is the usual warning: the next renewal replaces it.
    expect(check({ cluster: "", cert: `key_path = ${JSON.stringify(p384)}` }).warnings).toHaveLength(1);
  });

  test('key_rotation = "every_renewal", and a namecheap CA: refused by validation', () => {
    expect(problemsOf({ cert: `key_rotation = "every_renewal"` })).toEqual([
      `cert[0].key_rotation: "every_renewal" cannot work in cluster mode: every node must hold the same key (see docs/federation.md)`,
    ]);
    expect(problemsOf({ cas: NAMECHEAP })).toEqual([`ca[1].type: a namecheap CA is not supported in cluster mode yet (its pending-request state is per node)`]);
    expect(check({ cluster: "", cert: `key_rotation = "every_renewal"`, cas: NAMECHEAP })).toEqual({ fatal: [], certs: [], warnings: [] });
  });

  test("a reload keeps the running [cluster]: the pre-start checks hold the new file to it", () => {
    // The file turns cluster mode off and asks for a fresh key each renewal; the daemon still runs in cluster mode.
    const next = loadConfig(write({ cluster: "enabled = false", cert: `key_rotation = "every_renewal"`, cas: NAMECHEAP }), ENV);
    const plan = { ...next, cluster: { ...next.cluster, enabled: true } };
    expect(preflight(plan).fatal).toEqual([
      `ca[1].type: a namecheap CA is not supported in cluster mode yet (its pending-request state is per node)`,
      `cert[0].key_rotation: "every_renewal" cannot work in cluster mode: every node must hold the same key (see docs/federation.md)`,
    ]);
  });

  test("a local CA needs its root here, in its own folder or the shared one the start moves it from", () => {
    const line = `ca[2].type: a local CA in cluster mode needs ${state}/local-ca/internal/root.key and root.pem on every node; copy them from the node that made them`;
    const cas = `\n[[ca]]\nname = "other"\ntype = "acme"\ndirectory_url = "https://other.example/directory"\n${LOCAL}`;
    expect(check({ cas }).fatal).toEqual([line]);
    const own = join(state, "local-ca", "internal");
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, "root.pem"), "-----BEGIN CERTIFICATE-----\n");
    expect(check({ cas }).fatal).toEqual([line]);
    writeFileSync(join(own, "root.key"), "-----BEGIN PRIVATE KEY-----\n");
    expect(check({ cas }).fatal).toEqual([]);
    rmSync(own, { recursive: true });
    // The layout before per-CA folders: the first local CA's files in <state_dir>/local-ca/.
    writeFileSync(join(state, "local-ca", "root.pem"), "-----BEGIN CERTIFICATE-----\n");
    writeFileSync(join(state, "local-ca", "root.key"), "-----BEGIN PRIVATE KEY-----\n");
    expect(check({ cas }).fatal).toEqual([]);
    rmSync(join(state, "local-ca"), { recursive: true });
    expect(check({ cluster: "", cas }).fatal).toEqual([]);
  });

  test("every problem at once, each under where it is in the file: the config's from validation, all of them from the pre-start checks", () => {
    const gone = join(dir, "gone.key");
    const local = `ca[2].type: a local CA in cluster mode needs ${state}/local-ca/internal/root.key and root.pem on every node; copy them from the node that made them`;
    const offline = [
      `cluster.enabled: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database`,
      `ca[1].type: a namecheap CA is not supported in cluster mode yet (its pending-request state is per node)`,
      `cert[0].key_rotation: "every_renewal" cannot work in cluster mode: every node must hold the same key (see docs/federation.md)`,
    ];
    const err = refusal({ audit: "", cas: `${NAMECHEAP}${LOCAL}`, cert: `key_path = ${JSON.stringify(gone)}\nkey_rotation = "every_renewal"` });
    expect(err.problems).toEqual(offline);
    expect(preflight(err.partial!.config, err.partial!.keys).fatal).toEqual([...offline, local, `cert[0].key_path: ${gone} does not exist; ${NEVER}`]);
  });

  test("in a config with problems, the CA sections keep their places in the file", () => {
    const err = refusal({ cas: `\n[[ca]]\nname = "broken"\ntype = "nope"\n${NAMECHEAP}` });
    const namecheap = `ca[2].type: a namecheap CA is not supported in cluster mode yet (its pending-request state is per node)`;
    expect(err.problems).toEqual([`ca[1].type: unknown ca type "nope" (known: acme, local, namecheap)`, namecheap]);
    expect(preflight(err.partial!.config, err.partial!.keys).fatal).toEqual([namecheap]);
  });
});
