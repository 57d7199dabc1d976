/**
 * @module Cert views for lists and pages: the status of many certs from two bulk store
 * reads and the scheduler's last looks, never a store query or a certificate parse per cert.
 */
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertState } from "../store/types.ts";
import { certJson } from "./cert-view.ts";
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

/** The views of `certs` (default: every watched cert), in that order; the store is read for those certs only. */
export async function certViews(deps: ViewDeps, certs?: readonly WatchedCert[]): Promise<CertJson[]> {
  const list = certs ?? deps.certs.certs();
  await firstLooks(deps, list);
  return viewsNow(deps, list);
}

/**
 * The views of `certs` from what the scheduler has seen so far: two store reads whatever
 * their number, each an indexed lookup per cert, so a long history costs nothing here.
 * `states`: their failure states when the caller has read them already.
 */
export async function viewsNow(deps: ViewDeps, certs: readonly WatchedCert[], states?: Map<string, CertState>): Promise<CertJson[]> {
  const ids = certs.map((c) => c.config.id);
  const [latest, stateOf] = await Promise.all([deps.store.latestRenewals(ids), states ?? deps.store.certStates(ids)]);
  const now = deps.clock.now();
  const nextTick = deps.certs.nextTickAt();
  const typeOf = (name: string) => deps.certs.backendType("install", name);
  return certs.map((c) =>
    certJson({
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
    }),
  );
}
