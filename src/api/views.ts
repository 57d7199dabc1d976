/**
 * @module Cert views for lists and pages: the status of many certs from two bulk store
 * reads and the scheduler's last looks, never a store query or a certificate parse per cert.
 */
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertState } from "../store/types.ts";
import type { CertRows } from "./cert-rows.ts";
import { certJson, type CertViewInput } from "./cert-view.ts";
import type { CertJson } from "./json.ts";
import type { ApiDeps } from "./ports.ts";

/**
 * How long a read waits for a first look still in progress (right after a start or a
 * reload) before it answers "checking": a target that never answers must not hold it.
 */
const FIRST_LOOK_WAIT_MS = 2_000;

export type ViewDeps = Pick<ApiDeps, "certs" | "store" | "clock">;

/** Resolves once every one of `certs` has had its first look, or after a bounded wait. */
export async function firstLooks(deps: ViewDeps, certs: readonly WatchedCert[]): Promise<void> {
  if (certs.every((c) => deps.certs.look(c.config.id))) return;
  let cancel = () => {};
  await Promise.race([deps.certs.firstLooks(), new Promise<void>((resolve) => (cancel = deps.clock.setTimeout(resolve, FIRST_LOOK_WAIT_MS)))]);
  cancel();
}

/** Every watched cert's view as one JSON array, from `rows`' cached text where nothing changed. */
export async function certListJson(deps: ViewDeps, rows: CertRows): Promise<string> {
  const certs = deps.certs.certs();
  await firstLooks(deps, certs);
  // Every cert's state: the whole table is one scan, cheaper than a lookup per id (states of certs no longer configured are never asked for).
  const inputs = await viewInputs(deps, certs, await deps.store.certStates());
  return rows.list(inputs);
}

/**
 * The views of `certs` from what the scheduler has seen so far: two store reads whatever
 * their number, each an indexed lookup per cert, so a long history costs nothing here.
 * `states`: their failure states when the caller has read them already.
 */
export async function viewsNow(deps: ViewDeps, certs: readonly WatchedCert[], states?: Map<string, CertState>): Promise<CertJson[]> {
  return (await viewInputs(deps, certs, states)).map(certJson);
}

async function viewInputs(deps: ViewDeps, certs: readonly WatchedCert[], states?: Map<string, CertState>): Promise<CertViewInput[]> {
  const ids = certs.map((c) => c.config.id);
  const [latest, stateOf] = await Promise.all([deps.store.latestRenewals(ids), states ?? deps.store.certStates(ids)]);
  const now = deps.clock.now();
  const nextTick = deps.certs.nextTickAt();
  // Asked once per target name, not once per cert: thousands of certs share a few targets.
  const types = new Map<string, string | undefined>();
  const typeOf = (name: string) => {
    if (!types.has(name)) types.set(name, deps.certs.backendType("install", name));
    return types.get(name);
  };
  return certs.map((c) => ({
    id: c.config.id,
    domains: c.config.domains,
    now,
    look: deps.certs.look(c.config.id),
    busy: deps.certs.busy(c.config.id),
    state: stateOf.get(c.config.id) ?? null,
    last: latest.get(c.config.id),
    nextTick,
    install: c.config.install,
    typeOf,
  }));
}
