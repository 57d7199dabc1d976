/**
 * @module The status page's cluster panel (issue 17): this node's role, the lease (leader,
 * term), the database, and each node with its last heartbeat and per-cert install state,
 * from the same report as `GET /api/cluster`. Refreshed by events like the schedule panel:
 * leadership changes and sync runs each send one.
 */
import type { ClusterNodeBody, ClusterStatusBody } from "../../cluster/types.ts";
import { Badge, Time, relative } from "../components.tsx";

function Database(p: { db: ClusterStatusBody["database"] }) {
  if (!p.db) return <span class="muted">–</span>;
  if (p.db.connected) return <span>connected</span>;
  const dropped = p.db.dropped_writes > 0 ? `, ${p.db.dropped_writes} dropped` : "";
  return <span class="target-error">{`DISCONNECTED (${p.db.buffered_writes} writes buffered${dropped})`}</span>;
}

function NodeCerts(p: { node: ClusterNodeBody }) {
  if (p.node.certs.length === 0) return <span class="muted">none reported</span>;
  return (
    <ul class="node-certs">
      {p.node.certs.map((c) => (
        <li data-cert={c.id}>
          <a href={`/certs/${encodeURIComponent(c.id)}`}>{c.id}</a> <Badge status={c.state} />{" "}
          {c.installed_serial ? <span class="mono">{c.installed_serial}</span> : <span class="muted">nothing installed</span>}
          {c.error ? <div class="target-error">{c.error}</div> : null}
        </li>
      ))}
    </ul>
  );
}

export function ClusterPanel(p: { r: ClusterStatusBody; now: Date }) {
  const { r } = p;
  return (
    <section id="status-cluster" class="panel" aria-labelledby="status-cluster-title" data-live="*" hx-get="/status" hx-trigger="live" hx-select="#status-cluster" hx-swap="outerHTML">
      <h2 id="status-cluster-title">Cluster</h2>
      <dl class="facts">
        <dt>This node</dt>
        <dd>
          {r.node_id} <span class="muted">({r.role})</span>
        </dd>
        <dt>Leader</dt>
        <dd>
          {r.leader ? (
            <>
              {r.leader.node_id} <span class="muted">since</span> <Time iso={r.leader.since} />
              <span class="muted">, lease until</span> <Time iso={r.leader.expires_at} />
            </>
          ) : (
            <span class="target-error">none: no node leads right now</span>
          )}
        </dd>
        <dt>Term</dt>
        <dd>{r.term ?? <span class="muted">–</span>}</dd>
        <dt>Database</dt>
        <dd>
          <Database db={r.database} />
        </dd>
      </dl>
      <div class="table-wrap">
        <table>
          <caption class="skip">The cluster's nodes, and what each has installed of each cert</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Role</th>
              <th scope="col">Alive</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Version</th>
              <th scope="col">Installed</th>
            </tr>
          </thead>
          <tbody>
            {r.nodes.map((n) => (
              <tr data-node={n.node_id}>
                <td>{n.node_id}</td>
                <td>{n.role}</td>
                <td>{n.alive ? <span class="match yes">✓ yes</span> : <span class="match no">✕ no</span>}</td>
                <td class="num">
                  <Time iso={n.last_heartbeat} /> <span class="muted">({relative(n.last_heartbeat, p.now)})</span>
                </td>
                <td>{n.version}</td>
                <td>
                  <NodeCerts node={n} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
