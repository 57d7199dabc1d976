/**
 * @module What a reload changes: a pure comparison of the running config with the file's
 * new one. Keys that only a restart can apply keep their running values; everything
 * else applies at once, and the daemon logs one summary line.
 */
import { join } from "node:path";
import type { AuditConfig, BackendSection, RotaConfig } from "../config/schema.ts";

export interface ReloadPlan {
  /** The config to run on: the new one, with restart-only keys kept as they run. */
  config: RotaConfig;
  added: string[];
  removed: string[];
  /** Certs in both whose settings differ. */
  changed: string[];
  /** `<kind> <name>` of every backend section (sinks included: `alert <name>`) added, removed or changed. */
  backendsChanged: string[];
  /** `daemon.*` keys that apply now, and `http` when the listener changes. */
  settingsChanged: string[];
  /** Keys changed in the file that keep their running value until a restart. */
  restartRequired: string[];
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Keys of `a` and `b` (objects of one shape) whose values differ, as `<prefix>.<snake_key>`. */
function differing(prefix: string, a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !Bun.deepEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])).map((k) => `${prefix}.${snake(k)}`);
}

/**
 * `[audit]` keys that differ, as the file spells them: the password is a `SecretRef`, held
 * under `password`, but written as `password_file` or `password_env`.
 */
function auditKeys(a: AuditConfig, b: AuditConfig): string[] {
  const source = (c: AuditConfig) => ("password" in c ? { [`password_${c.password.from}`]: c.password } : {});
  const flat = (c: AuditConfig) => {
    const { password: _, ...rest } = c as AuditConfig & { password?: unknown };
    return { ...rest, ...source(c) };
  };
  return differing("audit", flat(a), flat(b));
}

function changedSections(kind: string, a: BackendSection[], b: BackendSection[]): string[] {
  const names = new Set([...a.map((s) => s.name), ...b.map((s) => s.name)]);
  return [...names]
    .filter((name) => {
      const x = a.find((s) => s.name === name);
      const y = b.find((s) => s.name === name);
      // The whole section: its type, its own options, and for a sink the keys every sink has.
      return !x || !y || !Bun.deepEquals(x, y);
    })
    .map((name) => `${kind} ${name}`);
}

/** `http` when any `[http]` key changed: the listener is rebuilt from the new section as a whole. */
function httpChanges(running: RotaConfig, next: RotaConfig): string[] {
  return Bun.deepEquals(running.http, next.http) ? [] : ["http"];
}

export function planReload(running: RotaConfig, next: RotaConfig): ReloadPlan {
  const restartKeys = new Set(["daemon.state_dir", "daemon.socket"]);
  const daemonDiff = differing("daemon", running.daemon, next.daemon);
  // `[cluster]` is read at start only: the lease, the node id other nodes see and the sync task are built once.
  const restartRequired = [...daemonDiff.filter((k) => restartKeys.has(k)), ...auditKeys(running.audit, next.audit), ...differing("cluster", running.cluster, next.cluster)];
  const settingsChanged = [...daemonDiff.filter((k) => !restartKeys.has(k)), ...httpChanges(running, next)];

  // A key path left to its default follows state_dir, which keeps its running value.
  const defaultKey = (stateDir: string, id: string) => join(stateDir, "keys", `${id}.key`);
  const certs = next.certs.map((c) =>
    c.keyPath === defaultKey(next.daemon.stateDir, c.id) ? { ...c, keyPath: defaultKey(running.daemon.stateDir, c.id) } : c,
  );
  const config: RotaConfig = {
    ...next,
    daemon: { ...next.daemon, stateDir: running.daemon.stateDir, socket: running.daemon.socket },
    audit: running.audit,
    cluster: running.cluster,
    certs,
  };

  const before = new Map(running.certs.map((c) => [c.id, c]));
  const after = new Map(config.certs.map((c) => [c.id, c]));
  return {
    config,
    added: [...after.keys()].filter((id) => !before.has(id)),
    removed: [...before.keys()].filter((id) => !after.has(id)),
    changed: [...after.keys()].filter((id) => before.has(id) && !Bun.deepEquals(before.get(id), after.get(id))),
    backendsChanged: [
      ...changedSections("ca", running.cas, next.cas),
      ...changedSections("dcv", running.dcvs, next.dcvs),
      ...changedSections("install", running.installs, next.installs),
      ...changedSections("alert", running.alerts, next.alerts),
    ],
    settingsChanged,
    restartRequired,
  };
}

/**
 * `plan` with `http` among the settings changed when applying it changed what the listener
 * serves (a new token in the same file, certificate files rewritten in place) though the
 * section reads the same: the summary must not say `no changes` after every session ended.
 */
export function withListenerChange(plan: ReloadPlan, listenerChanged: boolean): ReloadPlan {
  if (!listenerChanged || plan.settingsChanged.includes("http")) return plan;
  return { ...plan, settingsChanged: [...plan.settingsChanged, "http"] };
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One line: `+2 certs, -1 cert, 1 backend changed`, or `no changes`; restart-only keys named after. */
export function reloadSummary(p: ReloadPlan): string {
  const parts = [
    p.added.length > 0 ? `+${count(p.added.length, "cert", "certs")}` : "",
    p.removed.length > 0 ? `-${count(p.removed.length, "cert", "certs")}` : "",
    p.changed.length > 0 ? `${count(p.changed.length, "cert", "certs")} changed` : "",
    p.backendsChanged.length > 0 ? `${count(p.backendsChanged.length, "backend", "backends")} changed` : "",
    p.settingsChanged.length > 0 ? `${p.settingsChanged.join(", ")} changed` : "",
  ].filter(Boolean);
  const line = parts.length > 0 ? parts.join(", ") : "no changes";
  return p.restartRequired.length > 0 ? `${line}; ${p.restartRequired.join(", ")} changed in the file but keep${p.restartRequired.length === 1 ? "s" : ""} the running value until a restart` : line;
}
