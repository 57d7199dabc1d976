/**
 * @module Cert views for lists and pages: the status of many certs from two bulk store
 * reads and the scheduler's last looks, never a store query or a certificate parse per cert.
 */
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import type { CertRows } from "./cert-rows.ts";
import { certJson, type CertViewInput } from "./cert-view.ts";
import type { CertJson } from "./json.ts";
import type { ListReads } from "./list-reads.ts";
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

/**
 * Every watched cert's view as one JSON array, from `rows`' cached text where nothing
 * changed and `reads`' store reads while the store had no write. The same watched certs
 * and the same store reads as the last list, and no look or busy flag changed (between two
 * sweeps, and after a sweep that changed no look): the last array, without inputs.
 */
export async function certListJson(deps: ViewDeps, rows: CertRows, reads: ListReads): Promise<string> {
  const certs = deps.certs.certs();
  // Read before the wait for first looks: a write meanwhile moves the store's stamp, and the next list reads again.
  const read = await reads.read(deps.store, certs);
  const kept = rows.again([certs, read], deps.clock.now(), deps.certs.nextTickAt(), deps.certs);
  if (kept !== null) return kept;
  await firstLooks(deps, certs);
  return rows.list(inputsOf(deps, certs, read.latest, read.states), [certs, read]);
}

/**
 * The views of `certs` from what the scheduler has seen so far: two store reads whatever
 * their number, each an indexed lookup per cert, so a long history costs nothing here.
 * `states`: their failure states when the caller has read them already.
 */
export async function viewsNow(deps: ViewDeps, certs: readonly WatchedCert[], states?: Map<string, CertState>): Promise<CertJson[]> {
  const ids = certs.map((c) => c.config.id);
  const [latest, stateOf] = await Promise.all([deps.store.latestRenewals(ids), states ?? deps.store.certStates(ids)]);
  return inputsOf(deps, certs, latest, stateOf).map(certJson);
}

function inputsOf(deps: ViewDeps, certs: readonly WatchedCert[], latest: Map<string, RenewalHead>, stateOf: Map<string, CertState>): CertViewInput[] {
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
    nodeFailure: deps.certs.installFailure(c.config.id),
    last: latest.get(c.config.id),
    nextTick,
    install: c.config.install,
    typeOf,
  }));
}
