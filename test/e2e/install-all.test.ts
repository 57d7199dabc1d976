/**
 * End to end: the compiled binary on pebble installs one cert to three targets at once —
 * files, a NAS (the fake DSM) and a Kubernetes TLS Secret (the fake API server). DSM's
 * parts and the Secret match the files, `rota list --json` shows each target on the newest
 * serial, and a restart re-installs nothing anywhere.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeDsm, type FakeDsm } from "../fakes/dsm.ts";
import { startFakeKube, type FakeKube } from "../fakes/kube-apiserver.ts";
import { startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, list, read, serialOf, waitForRenewal } from "./helpers.ts";

interface Target {
  name: string;
  serial: string | null;
  matches_latest: boolean;
  error: string | null;
}

const PASSWORD = `dsm-${crypto.randomUUID()}`;
const TOKEN = `k8s-${crypto.randomUUID()}`;
let world: World;
let dsm: FakeDsm;
let kube: FakeKube;
let daemon: Daemon;
let config: string;

const files = (name: string) => read(join(world.certsDir, "www", name));
const b64 = (s: string) => Buffer.from(s).toString("base64");

beforeAll(async () => {
  world = await startWorld();
  dsm = await startFakeDsm({ users: [{ account: "rota", password: PASSWORD, admin: true }], restartMs: 300 });
  const kubeDir = join(world.dir, "kube");
  mkdirSync(kubeDir);
  kube = startFakeKube({ dir: kubeDir, auth: "token" });
  kube.tokens.add(TOKEN);
  const kubeconfig = join(world.dir, "kubeconfig");
  writeFileSync(kubeconfig, kube.kubeconfig({ user: { token: TOKEN } }), { mode: 0o600 });
  const passwordFile = join(world.dir, "dsm.pass");
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  config = world.writeConfig({
    certs: [{ id: "www", domains: ["www.example.test"] }],
    daemon: { check_interval_seconds: 1 },
    extra: `
[[install]]
name = "nas"
type = "dsm"
url = "${dsm.url}"
username = "rota"
password_file = ${JSON.stringify(passwordFile)}
description = "rota"

[[install]]
name = "k8s"
type = "k8s-secret"
secret_name = "www-tls"
namespace = "web"
kubeconfig = ${JSON.stringify(kubeconfig)}
`,
  });
  writeFileSync(config, read(config).replace('install = "files"', 'install = ["files", "nas", "k8s"]'));
  daemon = startDaemon(config, { env: world.env });
});

afterAll(async () => {
  await daemon?.stop();
  await kube?.stop();
  await dsm?.stop();
  await world?.stop();
});

test("one renewal installs to files, the NAS and the Secret, each holding the same certificate and key", async () => {
  const row = await waitForRenewal(world.socket, "www", () => true, 60_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  expect(row.events.find((e) => e.step === "install")!.message).toBe("installed on files, nas, k8s");
  const entry = dsm.entries.find((e) => e.desc === "rota")!;
  expect(entry.certPem.trim()).toBe(files("cert.pem").trim());
  expect(entry.chainPem.trim()).toBe(files("chain.pem").trim());
  const secret = kube.secret("web", "www-tls")!;
  expect(secret.data["tls.crt"]).toBe(b64(files("fullchain.pem")));
  expect(secret.data["tls.key"]).toBe(b64(files("privkey.pem")));
});

test("rota list --json shows the three targets on the newest serial", async () => {
  const latest = serialOf(join(world.certsDir, "www", "cert.pem"));
  const targets = await waitFor(
    async () => {
      const row = (await list(world.socket)).find((c) => c.id === "www") as unknown as { targets?: Target[] } | undefined;
      return row?.targets?.length === 3 && row.targets.every((t) => t.serial !== null) ? row.targets : undefined;
    },
    15_000,
    200,
    "the list to show three targets",
  );
  expect(Object.fromEntries(targets.map((t) => [t.name, [t.serial, t.matches_latest, t.error]]))).toEqual({
    files: [latest, true, null],
    nas: [latest, true, null],
    k8s: [latest, true, null],
  });
});

test("a restart re-installs nothing: DSM gets no import, the Secret no patch, the audit no row", async () => {
  const rows = (await audit(world.socket, "www")).length;
  const imports = dsm.calls("SYNO.Core.Certificate import").length;
  await daemon.stop();
  const seen = kube.requests.length;
  daemon = startDaemon(config, { env: world.env });
  await waitFor(() => kube.requests.slice(seen).filter((r) => r.method === "GET").length >= 3, 30_000, 100, "three looks after the restart");
  expect(kube.requests.slice(seen).filter((r) => r.method !== "GET")).toEqual([]);
  expect(dsm.calls("SYNO.Core.Certificate import").length).toBe(imports);
  expect((await audit(world.socket, "www")).length).toBe(rows);
});
