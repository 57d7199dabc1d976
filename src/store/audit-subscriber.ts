/** @module Writes the pipeline's events into the audit store, in the order they were emitted. */
import type { EventBus, RotaEvent } from "../events.ts";
import type { AuditStore } from "./types.ts";

export function subscribeAudit(bus: EventBus, store: AuditStore): () => void {
  let queue: Promise<void> = Promise.resolve();
  return bus.subscribe((event) => {
    const write = () => record(store, event);
    // Chained so an async store sees a renewal's rows in emit order.
    queue = queue.then(write, write);
    return queue;
  });
}

async function record(store: AuditStore, e: RotaEvent): Promise<void> {
  switch (e.type) {
    case "renewal.started":
      return store.openRenewal({ id: e.renewalId, certId: e.certId, trigger: e.trigger, installOnly: e.installOnly, reason: e.reason, startedAt: e.at });
    case "renewal.step":
      return store.addStep(e.renewalId, { step: e.step, at: e.at, status: e.status, message: e.message, durationMs: e.durationMs });
    case "renewal.succeeded":
      return store.closeRenewal(e.renewalId, "succeeded", e.at, null);
    case "renewal.failed":
      return store.closeRenewal(e.renewalId, e.interrupted ? "interrupted" : "failed", e.at, e.error);
    case "renewal.step_started":
    case "cert.due":
    // Alerts keep their own records (the delivery log).
    case "cert.expiring":
    case "cert.recovered":
    case "alert.test":
    // The store's own connection: logged by the store, not a row of the trail.
    case "store.disconnected":
    case "store.reconnected":
      return;
  }
}
