/**
 * End to end: a daemon restarted on an older state folder. The shared `local-ca/` layout
 * moves to the first local CA's folder at start, reissuing nothing, and a second local
 * CA gets a root of its own with its own common_name; history older than
 * `[audit] retention_days` is pruned at start.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, read, serialOf, waitForFile } from "./helpers.ts";

const FILES = ["root.key", "root.pem", "intermediate.key", "intermediate.pem"];
const SECOND = `
[[ca]]
name = "lab"
type = "local"
common_name = "Lab"

[[cert]]
id = "lab"
domains = ["lab.home.arpa"]
ca = "lab"
install = "files"
`;

let dir: string;
let socket: string;
let config: string;
let daemon: Daemon;
/** The old layout's files, as the first daemon left them. */
let before: Record<string, string>;
let appSerial: string;
const shared = () => join(dir, "state", "local-ca");
const own = (name: string) => join(shared(), name);

function verify(root: string, certId: string): string {
  const d = join(dir, "certs", certId);
  const p = Bun.spawnSync(["openssl", "verify", "-CAfile", root, "-untrusted", join(d, "chain.pem"), join(d, "cert.pem")], { stdout: "pipe", stderr: "pipe" });
  return p.stdout.toString() + p.stderr.toString();
}

beforeAll(async () => {
  dir = makeTempDir("rota-old-state-");
  socket = join(dir, "rota.sock");
  config = join(dir, "rota.toml");
  // A first daemon issues app; its CA files are then put back where an older rota kept them.
  writeFileSync(config, localCaConfig());
  const first = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
  await first.stop();
  for (const f of FILES) renameSync(join(own("internal"), f), join(shared(), f));
  rmSync(own("internal"), { recursive: true });
  before = Object.fromEntries(FILES.map((f) => [f, read(join(shared(), f))]));
  appSerial = serialOf(join(dir, "certs", "app", "cert.pem"));
  // A renewal from long ago, past the default 400 days of retention.
  const db = new Database(join(dir, "state", "rota.db"));
  const longAgo = Date.now() - 500 * 86_400_000;
  db.run("INSERT INTO renewal (id, cert_id, trigger, status, started_at, finished_at, error) VALUES ('ancient', 'app', 'scheduled', 'succeeded', ?, ?, NULL)", [longAgo, longAgo]);
  db.run("INSERT INTO renewal_event (renewal_id, seq, step, at, status, message, duration_ms) VALUES ('ancient', 1, 'key', ?, 'ok', 'reused key', 1)", [longAgo]);
  db.close();

  writeFileSync(config, localCaConfig({ extra: SECOND }));
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "lab", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

test("the shared files move, unchanged, to the first local CA's folder", async () => {
  await daemon.waitForOutput("local-ca: moved root.key, root.pem, intermediate.key, intermediate.pem");
  for (const f of FILES) expect(read(join(own("internal"), f))).toBe(before[f]!);
  expect(readdirSync(shared()).sort()).toEqual(["internal", "lab"]);
});

test("the installed certificate still verifies against the moved root, and was not reissued", async () => {
  expect(verify(join(own("internal"), "root.pem"), "app")).toContain(": OK");
  await waitFor(async () => (await list(socket)).every((c) => c.status === "ok"), 30_000, 100, "both certs ok");
  expect(serialOf(join(dir, "certs", "app", "cert.pem"))).toBe(appSerial);
  expect((await audit(socket, "app")).length).toBe(1);
});

test("the second local CA has its own root with its own common_name", async () => {
  const lab = join(own("lab"), "root.pem");
  expect(read(lab)).not.toBe(before["root.pem"]!);
  const subject = Bun.spawnSync(["openssl", "x509", "-in", lab, "-noout", "-subject"], { stdout: "pipe" }).stdout.toString();
  expect(subject).toContain("CN = Lab root");
  expect(verify(lab, "lab")).toContain(": OK");
  expect(verify(join(own("internal"), "root.pem"), "lab")).not.toContain(": OK");
});

test("rota ca root needs a name with two local CAs, and prints each one's root", async () => {
  const ambiguous = await runRota(["ca", "root", "--config", config]);
  expect(ambiguous.code).toBe(2);
  expect(ambiguous.stderr).toBe("rota: name the CA (local CAs: internal, lab)\n");
  expect((await runRota(["ca", "root", "internal", "--config", config])).stdout).toBe(before["root.pem"]!);
  expect((await runRota(["ca", "root", "lab", "--config", config])).stdout).toBe(read(join(own("lab"), "root.pem")));
});

test("history past retention_days is pruned at start, each cert's newest renewal kept", async () => {
  await daemon.waitForOutput("audit: pruned 1 renewal(s) with 1 step(s) and 0 issued certificate(s) older than 400 days");
  expect((await audit(socket, "app")).map((r) => r.id)).not.toContain("ancient");
});

test("a local CA with no root yet is exit 1, saying when it is made", async () => {
  const fresh = join(dir, "fresh.toml");
  mkdirSync(join(dir, "fresh"));
  writeFileSync(fresh, localCaConfig().replace('state_dir = "state"', 'state_dir = "fresh"'));
  const r = await runRota(["ca", "root", "--config", fresh]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`rota: local CA "internal" has no root yet: it is created at its first issuance (${join(dir, "fresh", "local-ca", "internal", "root.pem")})\n`);
});
