/** @module `/status` in-process: what it shows of the daemon, each TLS state, escaping, the cluster panel; and the daemon port behind it. */
import { describe, expect, test } from "bun:test";
import type { ApiDeps, CertSource, DaemonInfo, ListenerInfo } from "../../api/ports.ts";
import { daemonInfo } from "../../daemon/api-ports.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { Runner } from "../../scheduler/runner.ts";
import type { AuditStore, StoreHealth } from "../../store/types.ts";
import { testConfig } from "../../testing/config.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { clusterReport, FakeClusterPort } from "../../testing/fake-cluster.ts";
import { dashboardRoutes } from "../routes.tsx";
import { uptime } from "./status.tsx";

const clock = new FakeClock("2030-01-10T12:00:00Z");

function deps(listener: ListenerInfo | null, o: { configFile?: string; running?: number; queued?: number; surreal?: StoreHealth; cluster?: FakeClusterPort } = {}): ApiDeps {
  const certs = { certs: () => [{}, {}, {}] as WatchedCert[], checkIntervalSeconds: () => 3600, nextTickAt: () => new Date("2030-01-10T12:40:00Z") } as unknown as CertSource;
  const daemon: DaemonInfo = {
    settings: () => ({
      socket: "/run/rota/rota.sock",
      stateDir: "/var/lib/rota",
      audit: o.surreal ? { backend: "surrealdb", path: "wss://db.example.net/rpc", retentionDays: 400 } : { backend: "sqlite", path: "/var/lib/rota/rota.db", retentionDays: 400 },
      maxConcurrentRenewals: 4,
    }),
    renewals: () => ({ running: o.running ?? 0, queued: o.queued ?? 0 }),
    listener: () => listener,
  };
  const health: StoreHealth = o.surreal ?? { backend: "sqlite", connected: true, bufferedWrites: 0, droppedWrites: 0 };
  const store = { health: () => health } as unknown as AuditStore;
  return { version: "1.2.3", configFile: o.configFile ?? "/etc/rota/rota.toml", startedAt: new Date("2030-01-08T09:30:00Z"), certs, daemon, store, clock, cluster: o.cluster } as unknown as ApiDeps;
}

async function page(d: ApiDeps): Promise<string> {
  const res = await dashboardRoutes(d).request("/status");
  expect(res.status).toBe(200);
  return res.text();
}

/** The text of each <dd> after the <dt> naming it, tags dropped. */
function facts(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<dt>([^<]+)<\/dt><dd[^>]*>(.*?)<\/dd>/g)) out[m[1]!] = m[2]!.replace(/<[^>]+>/g, "");
  return out;
}

const plain: ListenerInfo = { origin: "http://127.0.0.1:8844", tls: null, publicUrl: undefined };

test("the daemon, its checks, its renewals and its storage", async () => {
  const f = facts(await page(deps(plain, { running: 2, queued: 3 })));
  expect(f).toMatchObject({
    Version: `rota 1.2.3 (pid ${process.pid})`,
    "Up for": "2 d 2 h since 2030-01-08 09:30:00Z",
    "Config file": "/etc/rota/rota.toml",
    Certificates: "3 configured",
    Checks: "every 1 h",
    "Next check": "2030-01-10 12:40:00Z (in 40 min)",
    "Renewals at once": "at most 4",
    "Running now": "2, 3 waiting for a slot",
    "Audit trail": "sqlite /var/lib/rota/rota.db (kept 400 days)",
    "State folder": "/var/lib/rota",
    "API socket": "/run/rota/rota.sock",
    Address: "http://127.0.0.1:8844",
    TLS: "none: plain HTTP",
    "Public URL": "not set",
  });
});

test("on SurrealDB, the server's connection: connected, or DISCONNECTED with what waits and what was dropped", async () => {
  const up = facts(await page(deps(plain, { surreal: { backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 0 } })));
  expect(up["Audit trail"]).toBe("surrealdb wss://db.example.net/rpc, connected (kept 400 days)");
  const down = facts(await page(deps(plain, { surreal: { backend: "surrealdb", connected: false, bufferedWrites: 42, droppedWrites: 3 } })));
  expect(down["Audit trail"]).toBe("surrealdb wss://db.example.net/rpc, DISCONNECTED (42 writes buffered, 3 dropped) (kept 400 days)");
});

test("the running count follows events", async () => {
  const html = await page(deps(plain));
  expect(html).toContain(`<section id="status-now" class="panel" aria-labelledby="status-schedule" data-live="*" hx-get="/status" hx-trigger="live" hx-select="#status-now" hx-swap="outerHTML">`);
  expect(facts(html)["Running now"]).toBe("0");
});

describe("TLS", () => {
  test("files given by path", async () => {
    const f = facts(await page(deps({ origin: "https://[::1]:8844", tls: { from: "files", cert: "/etc/ssl/rota.pem", key: "/etc/ssl/rota.key" }, publicUrl: "https://nas.example.com:8844" })));
    expect(f).toMatchObject({ Address: "https://[::1]:8844", TLS: "certificate /etc/ssl/rota.pem, key /etc/ssl/rota.key", "Public URL": "https://nas.example.com:8844" });
  });

  test("a cert rota manages, linked", async () => {
    const html = await page(deps({ origin: "https://0.0.0.0:8844", tls: { from: "cert", certId: "nas", target: "files", dir: "/etc/rota/live/nas" }, publicUrl: undefined }));
    expect(facts(html).TLS).toBe("managed cert nas, as installed by files in /etc/rota/live/nas");
    expect(html).toContain(`<a href="/certs/nas">nas</a>`);
  });

  test("no listener: says how to add one", async () => {
    expect(await page(deps(null))).toContain("Not listening on TCP: add an <code>[http]</code> section to <code>/etc/rota/rota.toml</code>.");
  });

  test("paths and ids with markup render as text", async () => {
    const html = await page(deps({ origin: "https://127.0.0.1:1", tls: { from: "cert", certId: `<b>"x"</b>`, target: "t", dir: "/<i>" }, publicUrl: undefined }, { configFile: "/etc/<script>.toml" }));
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<b>");
    expect(html).not.toContain("<i>");
    expect(html).toContain("/etc/&lt;script&gt;.toml");
    expect(html).toContain("&lt;b&gt;&quot;x&quot;&lt;/b&gt;");
  });
});

describe("the cluster panel", () => {
  /** Each node's row: its cells as text, tags dropped, runs of space made one. */
  function nodeRows(html: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const m of html.matchAll(/<tr data-node="([^"]+)">(.*?)<\/tr>/g)) {
      out[m[1]!] = [...m[2]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]!.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim());
    }
    return out;
  }

  test("this node, the leader, the term, the database, and each node with its heartbeat and per-cert install state", async () => {
    const html = await page(deps(plain, { cluster: new FakeClusterPort() }));
    expect(html).toContain(`<section id="status-cluster" class="panel" aria-labelledby="status-cluster-title" data-live="*" hx-get="/status" hx-trigger="live" hx-select="#status-cluster" hx-swap="outerHTML">`);
    expect(facts(html)).toMatchObject({
      "This node": "nas-2 (follower)",
      Leader: "nas-1 since 2030-01-10 11:00:00Z, lease until 2030-01-10 12:00:20Z",
      Term: "7",
      Database: "connected",
    });
    expect(nodeRows(html)).toEqual({
      "nas-1": ["nas-1", "leader", "✓ yes", "2030-01-10 11:59:55Z (5 s ago)", "0.2.0", "www in_sync 0a1b"],
      "nas-2": ["nas-2", "follower", "✓ yes", "2030-01-10 11:59:58Z (2 s ago)", "0.2.0", "www syncing 09ff"],
      "nas-3": ["nas-3", "follower", "✕ no", "2030-01-10 11:40:00Z (20 min ago)", "0.1.9", "www refused nothing installed key_mismatch: the stored certificate is not for this node&#39;s key /etc/rota/www.key"],
    });
    expect(html).toContain(`<span class="badge refused">refused</span>`);
    expect(html).toContain(`<a href="/certs/www">www</a>`);
  });

  test("no leader and the database away: said plainly", async () => {
    const port = new FakeClusterPort(clusterReport({ leader: null, database: { connected: false, buffered_writes: 4, dropped_writes: 0 } }));
    const f = facts(await page(deps(plain, { cluster: port })));
    expect(f.Leader).toBe("none: no node leads right now");
    expect(f.Database).toBe("DISCONNECTED (4 writes buffered)");
  });

  test("node ids and errors with markup render as text", async () => {
    const r = clusterReport();
    r.nodes[0] = { ...r.nodes[0]!, node_id: "<b>n</b>", certs: [{ ...r.nodes[0]!.certs[0]!, error: "<script>x</script>" }] };
    const html = await page(deps(plain, { cluster: new FakeClusterPort(r) }));
    expect(html).not.toContain("<script>x");
    expect(html).not.toContain("<b>n</b>");
    expect(html).toContain("&lt;script&gt;x&lt;/script&gt;");
  });

  test("cluster off: no panel", async () => {
    const html = await page(deps(plain));
    expect(html).not.toContain("status-cluster");
    expect(html).not.toContain(">Cluster<");
  });
});

test("uptime: the two largest units", () => {
  expect(uptime(12_000)).toBe("12 s");
  expect(uptime(4 * 60_000 + 5_000)).toBe("4 min");
  expect(uptime(3 * 3_600_000)).toBe("3 h");
  expect(uptime(3 * 3_600_000 + 12 * 60_000)).toBe("3 h 12 min");
  expect(uptime(2 * 86_400_000 + 5 * 3_600_000 + 60_000)).toBe("2 d 5 h");
});

describe("daemonInfo", () => {
  const runner = { running: () => 1, activeRenewalIds: () => new Set(["a", "b", "c"]) } as unknown as Runner;

  test("reads the running config at each call, counts the queued, and reports the listener bound now", () => {
    let config = testConfig("/srv", [], { maxConcurrentRenewals: 1 });
    let origin: string | null = null;
    const info = daemonInfo(() => config, runner, () => ({ origin: () => origin }));
    expect(info.settings()).toEqual({ socket: "", stateDir: "", audit: { backend: "sqlite", path: "/srv/rota.db", retentionDays: 400 }, maxConcurrentRenewals: 1 });
    expect(info.renewals()).toEqual({ running: 1, queued: 2 });
    expect(info.listener()).toBeNull();
    const tls = { from: "files" as const, cert: "/c.pem", key: "/k.pem" };
    config = { ...config, daemon: { ...config.daemon, maxConcurrentRenewals: 3 }, http: { listener: { tls } as never, publicUrl: "https://nas.example.com" } };
    origin = "https://127.0.0.1:8844";
    expect(info.settings().maxConcurrentRenewals).toBe(3);
    expect(info.listener()).toEqual({ origin, tls, publicUrl: "https://nas.example.com" });
  });
});
