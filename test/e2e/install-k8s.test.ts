/**
 * End to end: the compiled binary on pebble installs one cert to `files` and to a
 * Kubernetes TLS Secret on the fake API server (client certificate and token from a
 * kubeconfig, cluster CA as data, NODE_EXTRA_CA_CERTS and SSL_CERT_FILE removed). The
 * Secret matches the files, `rota list --json` shows both targets, a restart installs
 * nothing again, and the token and the client key never show in the log, the state
 * folder (audit DB included), `rota audit`, `rota list --json` or any CLI output.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startFakeKube, type FakeKube } from "../fakes/kube-apiserver.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, read, serialOf, waitForRenewal, type AuditRow } from "./helpers.ts";

interface Target {
  name: string;
  serial: string | null;
  matches_latest: boolean;
  error: string | null;
}

const TOKEN = `canary-token-${crypto.randomUUID()}`;
let world: World;
let kube: FakeKube;
let daemon: Daemon;
let config: string;
const outputs: string[] = [];

beforeAll(async () => {
  world = await startWorld();
  const kubeDir = join(world.dir, "kube");
  mkdirSync(kubeDir);
  kube = startFakeKube({ dir: kubeDir, auth: "cert" });
  kube.tokens.add(TOKEN);
  const kubeconfig = join(world.dir, "kubeconfig");
  writeFileSync(kubeconfig, kube.kubeconfig({ user: { certAndToken: TOKEN } }), { mode: 0o600 });
  config = world.writeConfig({
    certs: [{ id: "www", domains: ["www.example.test"] }],
    daemon: { check_interval_seconds: 1 },
    extra: `
[[install]]
name = "k8s"
type = "k8s-secret"
secret_name = "www-tls"
namespace = "web"
kubeconfig = ${JSON.stringify(kubeconfig)}
labels = { team = "web" }
timeout_seconds = 10
`,
  });
  writeFileSync(config, read(config).replace('install = "files"', 'install = ["files", "k8s"]'));
  daemon = startDaemon(config, { env: world.env });
});

afterAll(async () => {
  await daemon?.stop();
  await kube?.stop();
  await world?.stop();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

test("the first renewal installs to files and to the Secret, which matches the files", async () => {
  const row = await waitForRenewal(world.socket, "www", () => true, 60_000);
  expect(row.status).toBe("succeeded");
  const dir = join(world.certsDir, "www");
  const secret = kube.secret("web", "www-tls")!;
  expect(secret.type).toBe("kubernetes.io/tls");
  expect(secret.data["tls.crt"]).toBe(b64(read(join(dir, "fullchain.pem"))));
  expect(secret.data["tls.key"]).toBe(b64(read(join(dir, "privkey.pem"))));
  expect(secret.labels).toEqual({ team: "web", "app.kubernetes.io/managed-by": "rota" });
  const patch = kube.requests.find((r) => r.method === "PATCH")!;
  expect(patch).toMatchObject({ contentType: "application/apply-patch+yaml", query: { fieldManager: "rota", force: "true" }, authorization: `Bearer ${TOKEN}` });
});

test("rota list --json shows both targets serving the latest serial", async () => {
  const latest = serialOf(join(world.certsDir, "www", "cert.pem"));
  const targets = await waitFor(
    async () => {
      const r = await runRota(["list", "--json", "--socket", world.socket]);
      outputs.push(r.stdout, r.stderr);
      const row = (JSON.parse(r.stdout) as { id: string; targets?: Target[] }[]).find((c) => c.id === "www");
      return row?.targets?.length === 2 && row.targets.every((t) => t.serial !== null) ? row.targets : undefined;
    },
    15_000,
    200,
    "the list to show both targets",
  );
  expect(Object.fromEntries(targets.map((t) => [t.name, [t.serial, t.matches_latest, t.error]]))).toEqual({
    files: [latest, true, null],
    k8s: [latest, true, null],
  });
});

test("a restart installs nothing again: the daemon only reads the Secret back", async () => {
  const before = (await audit(world.socket, "www")).length;
  await daemon.stop();
  const seen = kube.requests.length;
  daemon = startDaemon(config, { env: world.env });
  // Each tick reads the Secret back once: three reads are three ticks with nothing to do.
  await waitFor(() => kube.requests.slice(seen).filter((r) => r.method === "GET").length >= 3, 30_000, 100, "three read-backs after the restart");
  expect(kube.requests.slice(seen).filter((r) => r.method !== "GET")).toEqual([]);
  expect((await audit(world.socket, "www")).length).toBe(before);
});

test("without get on the Secret, the k8s read-back fails at every tick while the files target is still repaired", async () => {
  kube.removeVerb("get");
  try {
    const latest = serialOf(join(world.certsDir, "www", "cert.pem"));
    const before = (await audit(world.socket, "www")).length;
    rmSync(join(world.certsDir, "www"), { recursive: true });
    // Audit rows come newest first.
    const row = (await waitFor(
      async () => {
        const rows = await audit(world.socket, "www");
        return rows.length > before && rows[0]!.finished_at !== null ? rows[0] : undefined;
      },
      30_000,
      100,
      "the repair run",
    )) as AuditRow & { install_only: boolean };
    expect(row).toMatchObject({ status: "succeeded", install_only: true });
    expect(serialOf(join(world.certsDir, "www", "cert.pem"))).toBe(latest);
    const k8s = await waitFor(
      async () => {
        const r = await runRota(["list", "--json", "--socket", world.socket]);
        outputs.push(r.stdout, r.stderr);
        return (JSON.parse(r.stdout) as { id: string; targets?: Target[] }[]).find((c) => c.id === "www")?.targets?.find((t) => t.name === "k8s" && t.error !== null);
      },
      15_000,
      200,
      "the k8s target to show its read error",
    );
    expect(k8s.error).toContain('k8s-secret k8s: secrets "www-tls" is forbidden: User "system:serviceaccount:web:rota" cannot get resource "secrets"');
    expect(k8s.error).toContain("rota needs get, create and patch on secrets in web: docs/kubernetes/rbac.yaml");
  } finally {
    kube.restoreVerbs();
  }
});

test("canaries: the token and the client key appear nowhere rota writes or prints", async () => {
  const keyPem = kube.clientKeyPem;
  const keyLines = keyPem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
  const canaries = [TOKEN, b64(keyPem).slice(0, 40), ...keyLines];
  for (const args of [["audit", "--json", "--socket", world.socket], ["audit", "www", "--socket", world.socket], ["list", "--json", "--socket", world.socket], ["status", "--socket", world.socket], ["check-config", "--config", config]]) {
    const r = await runRota(args);
    outputs.push(r.stdout, r.stderr);
  }
  outputs.push(daemon.output());
  const stateFiles = (function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  })(world.stateDir);
  expect(stateFiles.some((f) => f.endsWith(".db") || f.includes("audit"))).toBe(true);
  const haystacks = [...outputs.map((o, i) => [`output ${i}`, o] as const), ...stateFiles.map((f) => [f, readFileSync(f).toString("latin1")] as const)];
  const leaks = haystacks.flatMap(([where, text]) => canaries.filter((c) => text.includes(c)).map((c) => `${where}: ${c.slice(0, 12)}…`));
  expect(leaks).toEqual([]);
});

test("a Secret holds one certificate: check-config refuses a second cert on the k8s target, naming the first", async () => {
  const two = read(config) + `\n[[cert]]\nid = "api"\ndomains = ["api.example.test"]\nca = "pebble"\ndcv = "web"\ninstall = ["files", "k8s"]\n`;
  const path = join(world.dir, "two-certs.toml");
  writeFileSync(path, two);
  const r = await runRota(["check-config", "--config", path]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('cert[1].install[1]: install "k8s" (type k8s-secret) holds one certificate; cert "www" already uses it');
});
