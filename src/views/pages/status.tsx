/**
 * @module Status `/status`: the daemon itself — version, uptime, where its config, audit
 * trail and socket are, how often it checks and when next, how many renewals run, the
 * listener this page came through, and in cluster mode the cluster's nodes.
 */
import type { ApiDeps, DaemonSettings, ListenerInfo } from "../../api/ports.ts";
import type { ClusterStatusBody } from "../../cluster/types.ts";
import type { StoreHealth } from "../../store/types.ts";
import { Time, relative } from "../components.tsx";
import { Layout } from "../layout.tsx";
import { ClusterPanel } from "./cluster-panel.tsx";

export interface StatusData {
  version: string;
  pid: number;
  configFile: string;
  startedAt: Date;
  now: Date;
  certs: number;
  checkIntervalSeconds: number;
  nextTick: Date | null;
  settings: DaemonSettings;
  renewals: { running: number; queued: number };
  listener: ListenerInfo | null;
  /** The audit store's connection (a SurrealDB server's; SQLite is always connected). */
  audit: StoreHealth;
  /** What `GET /api/cluster` says; null when `[cluster]` is off. */
  cluster: ClusterStatusBody | null;
}

export async function statusData(deps: Pick<ApiDeps, "version" | "configFile" | "startedAt" | "certs" | "daemon" | "store" | "clock" | "cluster">): Promise<StatusData> {
  return {
    version: deps.version,
    pid: process.pid,
    configFile: deps.configFile,
    startedAt: deps.startedAt,
    now: deps.clock.now(),
    certs: deps.certs.certs().length,
    checkIntervalSeconds: deps.certs.checkIntervalSeconds(),
    nextTick: deps.certs.nextTickAt(),
    settings: deps.daemon.settings(),
    renewals: deps.daemon.renewals(),
    listener: deps.daemon.listener(),
    audit: deps.store.health(),
    cluster: deps.cluster ? await deps.cluster.status() : null,
  };
}

/** "2 d 5 h", "3 h 12 min", "4 min", "12 s": the two largest units. */
export function uptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3_600), Math.floor((s % 3_600) / 60)];
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return m > 0 ? `${m} min` : `${s} s`;
}

/** As `rota status` says it: "connected", or "DISCONNECTED (42 writes buffered, 3 dropped)". */
function connection(h: StoreHealth): string {
  if (h.connected) return "connected";
  return `DISCONNECTED (${h.bufferedWrites} writes buffered${h.droppedWrites > 0 ? `, ${h.droppedWrites} dropped` : ""})`;
}

/** "every 1 h", "every 90 s". */
function every(seconds: number): string {
  if (seconds % 3_600 === 0) return `every ${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

function Tls(p: { l: ListenerInfo }) {
  const t = p.l.tls;
  if (!t) return <span>none: plain HTTP</span>;
  if (t.from === "files") {
    return (
      <span>
        certificate <code>{t.cert}</code>, key <code>{t.key}</code>
      </span>
    );
  }
  return (
    <span>
      managed cert <a href={`/certs/${encodeURIComponent(t.certId)}`}>{t.certId}</a>, as installed by <code>{t.target}</code> in <code>{t.dir}</code>
    </span>
  );
}

export function StatusPage(p: { d: StatusData; csrf: string }) {
  const { d } = p;
  const s = d.settings;
  return (
    <Layout title="Status" csrf={p.csrf} section="status">
      <h1>Status</h1>
      <section class="panel" aria-labelledby="status-daemon">
        <h2 id="status-daemon">Daemon</h2>
        <dl class="facts">
          <dt>Version</dt>
          <dd>
            rota {d.version} <span class="muted">(pid {d.pid})</span>
          </dd>
          <dt>Up for</dt>
          <dd>
            {uptime(d.now.getTime() - d.startedAt.getTime())} <span class="muted">since</span> <Time iso={d.startedAt.toISOString()} />
          </dd>
          <dt>Config file</dt>
          <dd>
            <code>{d.configFile}</code>
          </dd>
          <dt>Certificates</dt>
          <dd>
            <a href="/">{d.certs} configured</a>
          </dd>
        </dl>
      </section>
      {d.cluster ? <ClusterPanel r={d.cluster} now={d.now} /> : null}
      <section id="status-now" class="panel" aria-labelledby="status-schedule" data-live="*" hx-get="/status" hx-trigger="live" hx-select="#status-now" hx-swap="outerHTML">
        <h2 id="status-schedule">Checks and renewals</h2>
        <dl class="facts">
          <dt>Checks</dt>
          <dd>{every(d.checkIntervalSeconds)}</dd>
          <dt>Next check</dt>
          <dd>
            {d.nextTick ? (
              <>
                <Time iso={d.nextTick.toISOString()} /> <span class="muted">({relative(d.nextTick.toISOString(), d.now)})</span>
              </>
            ) : (
              <span class="muted">not scheduled</span>
            )}
          </dd>
          <dt>Renewals at once</dt>
          <dd>at most {s.maxConcurrentRenewals}</dd>
          <dt>Running now</dt>
          <dd id="status-running">
            {d.renewals.running}
            {d.renewals.queued > 0 ? <span class="muted">, {d.renewals.queued} waiting for a slot</span> : null}
          </dd>
        </dl>
      </section>
      <section class="panel" aria-labelledby="status-storage">
        <h2 id="status-storage">Storage</h2>
        <dl class="facts">
          <dt>Audit trail</dt>
          <dd>
            {s.audit.backend} <code>{s.audit.path}</code>
            {d.audit.backend === "surrealdb" ? <>, {connection(d.audit)}</> : null} <span class="muted">(kept {s.audit.retentionDays} days)</span>
          </dd>
          <dt>State folder</dt>
          <dd>
            <code>{s.stateDir}</code>
          </dd>
          <dt>API socket</dt>
          <dd>
            <code>{s.socket}</code>
          </dd>
        </dl>
      </section>
      <section class="panel" aria-labelledby="status-http">
        <h2 id="status-http">HTTP listener</h2>
        {d.listener ? (
          <dl class="facts">
            <dt>Address</dt>
            <dd>
              <code>{d.listener.origin}</code>
            </dd>
            <dt>TLS</dt>
            <dd>
              <Tls l={d.listener} />
            </dd>
            <dt>Public URL</dt>
            <dd>{d.listener.publicUrl ? <code>{d.listener.publicUrl}</code> : <span class="muted">not set</span>}</dd>
          </dl>
        ) : (
          <p class="muted">
            Not listening on TCP: add an <code>[http]</code> section to <code>{d.configFile}</code>.
          </p>
        )}
      </section>
    </Layout>
  );
}
