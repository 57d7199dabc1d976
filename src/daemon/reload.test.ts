/** @module planReload and its summary: what a reload changes, and which keys wait for a restart. */
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../config/load.ts";
import { planReload, reloadSummary, withListenerChange } from "./reload.ts";

const base = (extra = "", daemon = "") => `[daemon]
state_dir = "/var/lib/rota"
socket = "/run/rota/rota.sock"
${daemon}

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "/etc/ssl/rota"

[[cert]]
id = "www"
domains = ["www.example.com"]
ca = "internal"
install = "files"
${extra}`;

const load = (text: string) => parseConfigText(new TextEncoder().encode(text), "/etc/rota/rota.toml", {});
const cert = (id: string) => `\n[[cert]]\nid = "${id}"\ndomains = ["${id}.example.com"]\nca = "internal"\ninstall = "files"\n`;

describe("planReload", () => {
  test("the same file changes nothing", () => {
    const plan = planReload(load(base()), load(base()));
    expect(reloadSummary(plan)).toBe("no changes");
    expect(plan).toMatchObject({ added: [], removed: [], changed: [], backendsChanged: [], settingsChanged: [], restartRequired: [] });
  });

  test("a listener that changed under the same [http] (a new token in its file, TLS files rewritten) is counted once", () => {
    const plan = planReload(load(base()), load(base()));
    expect(reloadSummary(withListenerChange(plan, false))).toBe("no changes");
    expect(reloadSummary(withListenerChange(plan, true))).toBe("http changed");
    expect(withListenerChange(plan, true).settingsChanged).toEqual(["http"]);
    const http = `\n[http]\npublic_url = "https://nas.example.com"\n`;
    const edited = planReload(load(base()), load(base() + http));
    expect(reloadSummary(withListenerChange(edited, true))).toBe("http changed");
  });

  test("certs added, removed and changed, and a backend changed, in one line", () => {
    const before = load(base(cert("old")));
    const after = load(base(`${cert("api")}${cert("app")}`).replace('dir = "/etc/ssl/rota"', 'dir = "/srv/certs"').replace('domains = ["www.example.com"]', 'domains = ["www.example.com", "example.com"]'));
    const plan = planReload(before, after);
    expect(plan).toMatchObject({ added: ["api", "app"], removed: ["old"], changed: ["www"], backendsChanged: ["install files"] });
    expect(reloadSummary(plan)).toBe("+2 certs, -1 cert, 1 cert changed, 1 backend changed");
  });

  test("sinks added, removed or changed (their common keys too) are backends changed, and apply at once", () => {
    const sink = (name: string, repeatIntervalHours = 24) => ({ name, type: "webhook", options: { url: "https://hooks.example/x" }, events: ["renewal.failed"], minSeverity: "info" as const, repeatIntervalHours });
    const running = { ...load(base()), alerts: [sink("hook"), sink("old")] };
    const next = { ...load(base()), alerts: [sink("hook", 2), sink("new")] };
    const plan = planReload(running, next);
    expect(plan.backendsChanged).toEqual(["alert hook", "alert old", "alert new"]);
    expect(plan.config.alerts).toEqual(next.alerts);
    expect(reloadSummary(plan)).toBe("3 backends changed");
  });

  test("daemon settings apply at once and are named", () => {
    const plan = planReload(load(base()), load(base("", "check_interval_seconds = 60\nmax_concurrent_renewals = 1")));
    expect(plan.settingsChanged).toEqual(["daemon.check_interval_seconds", "daemon.max_concurrent_renewals"]);
    expect(plan.config.daemon.checkIntervalSeconds).toBe(60);
    expect(reloadSummary(plan)).toBe("daemon.check_interval_seconds, daemon.max_concurrent_renewals changed");
  });

  test("max_authz_failures applies at once", () => {
    const plan = planReload(load(base()), load(base("", "max_authz_failures = 2")));
    expect(plan.settingsChanged).toEqual(["daemon.max_authz_failures"]);
    expect(plan.config.daemon.maxAuthzFailures).toBe(2);
  });

  test("socket, state_dir and audit keep their running values until a restart, and are named", () => {
    const running = load(base());
    const next = load(
      base()
        .replace('state_dir = "/var/lib/rota"', 'state_dir = "/srv/rota"')
        .replace('socket = "/run/rota/rota.sock"', 'socket = "/run/rota2.sock"') + '\n[audit]\npath = "/srv/audit.db"\n',
    );
    const plan = planReload(running, next);
    expect(plan.restartRequired).toEqual(["daemon.state_dir", "daemon.socket", "audit.path"]);
    expect(plan.config.daemon.stateDir).toBe("/var/lib/rota");
    expect(plan.config.daemon.socket).toBe("/run/rota/rota.sock");
    expect(plan.config.audit).toEqual(running.audit);
    // A key path left to its default stays under the running state_dir.
    expect(plan.config.certs[0]!.keyPath).toBe("/var/lib/rota/keys/www.key");
    expect(plan.changed).toEqual([]);
    expect(reloadSummary(plan)).toBe("no changes; daemon.state_dir, daemon.socket, audit.path changed in the file but keep the running value until a restart");
  });

  describe("[audit] on SurrealDB", () => {
    const env = { ROTA_DB_PASS: "s3cret-pass", ROTA_DB_PASS2: "other-pass" };
    const surreal = (keys: string) => `\n[audit]\nbackend = "surrealdb"\nusername = "rota"\n${keys}\n`;
    const loadEnv = (text: string) => parseConfigText(new TextEncoder().encode(text), "/etc/rota/rota.toml", env);
    const running = loadEnv(base() + surreal('url = "ws://db1:8000/rpc"\npassword_env = "ROTA_DB_PASS"'));

    test("a changed key is named as in the file, the password's by its source; the running store keeps its values", () => {
      const next = loadEnv(base() + surreal('url = "ws://db2:8000/rpc"\npassword_env = "ROTA_DB_PASS2"\nbuffer_max_writes = 500'));
      const plan = planReload(running, next);
      expect(plan.restartRequired).toEqual(["audit.url", "audit.buffer_max_writes", "audit.password_env"]);
      expect(plan.config.audit).toEqual(running.audit);
      expect(reloadSummary(plan)).toBe("no changes; audit.url, audit.buffer_max_writes, audit.password_env changed in the file but keep the running value until a restart");
    });

    test("from password_env to password_file: both keys named", () => {
      const next = loadEnv(base() + surreal('url = "ws://db1:8000/rpc"\npassword_file = "/etc/hostname"'));
      expect(planReload(running, next).restartRequired).toEqual(["audit.password_env", "audit.password_file"]);
    });

    test("back to SQLite: the backend is named, the store keeps running on SurrealDB", () => {
      const plan = planReload(running, load(base()));
      expect(plan.restartRequired[0]).toBe("audit.backend");
      expect(plan.restartRequired).not.toContain("audit.password");
      expect(plan.config.audit).toEqual(running.audit);
    });
  });

  test("[cluster] is read at start only: a changed key is named, the running values are kept", () => {
    const env = { ROTA_DB_PASS: "s3cret-pass" };
    const surreal = `\n[audit]\nbackend = "surrealdb"\nurl = "ws://db1:8000/rpc"\nusername = "rota"\npassword_env = "ROTA_DB_PASS"\n`;
    const loadEnv = (cluster: string) => parseConfigText(new TextEncoder().encode(`${base()}${surreal}\n[cluster]\n${cluster}\n`), "/etc/rota/rota.toml", env);
    const running = loadEnv('enabled = true\nnode_id = "nas-1"');
    const next = loadEnv('enabled = true\nnode_id = "nas-2"\nlock_ttl_seconds = 9\nsync_interval_seconds = 5');
    const plan = planReload(running, next);
    expect(plan.restartRequired).toEqual(["cluster.node_id", "cluster.lock_ttl_seconds", "cluster.sync_interval_seconds"]);
    expect(plan.config.cluster).toEqual({ enabled: true, nodeId: "nas-1", lockTtlSeconds: 30, syncIntervalSeconds: 60 });
    expect(plan.settingsChanged).toEqual([]);
    expect(reloadSummary(plan)).toBe(
      "no changes; cluster.node_id, cluster.lock_ttl_seconds, cluster.sync_interval_seconds changed in the file but keep the running value until a restart",
    );
    const off = planReload(running, loadEnv('enabled = false\nnode_id = "nas-1"'));
    expect(off.restartRequired).toEqual(["cluster.enabled"]);
    expect(off.config.cluster.enabled).toBe(true);
    expect(planReload(running, loadEnv('enabled = true\nnode_id = "nas-1"')).restartRequired).toEqual([]);
  });
});
