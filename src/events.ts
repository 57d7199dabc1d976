/**
 * @module Typed events the pipeline and scheduler emit. The audit store, the live
 * API stream and the alert sinks subscribe; the pipeline never calls a sink itself.
 */
import type { LeaderLostReason } from "./cluster/types.ts";

/** `sync`: a cluster node installing what the leader stored (`src/cluster/install-sync.ts`). */
export type Trigger = "scheduled" | "manual" | "startup" | "reload" | "sync";

/** Pipeline steps, in the order they run. Names are part of the audit JSON contract. */
export const STEPS = ["key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install"] as const;
export type StepName = (typeof STEPS)[number];

/** `skipped`: nothing to do (a CA that needs no challenges); `failed` carries the error text. */
export type StepStatus = "ok" | "failed" | "skipped";

export type RotaEvent =
  | {
      type: "renewal.started";
      renewalId: string;
      certId: string;
      trigger: Trigger;
      installOnly: boolean;
      /** The scheduler's decision that started it ("files: damaged: privkey.pem is missing", "forced"); null when none was given. */
      reason: string | null;
      at: Date;
    }
  /** A step begins; not audited (its `renewal.step` is), but it says where a renewal is now. */
  | { type: "renewal.step_started"; renewalId: string; certId: string; step: StepName; at: Date }
  | {
      type: "renewal.step";
      renewalId: string;
      certId: string;
      step: StepName;
      status: StepStatus;
      message: string;
      durationMs: number;
      at: Date;
    }
  | { type: "renewal.succeeded"; renewalId: string; certId: string; at: Date; serial: string | null; notAfter: Date | null }
  | {
      type: "renewal.failed";
      renewalId: string;
      certId: string;
      at: Date;
      error: string;
      /** Cancelled by shutdown rather than failed on its own; no cooldown follows. */
      interrupted: boolean;
      retryAt: Date | null;
    }
  | { type: "cert.due"; certId: string; reason: string; at: Date }
  /** The served certificate is close to expiry and renewals have not fixed it (alerts/expiring.ts says when). */
  | { type: "cert.expiring"; certId: string; daysLeft: number; notAfter: Date; at: Date }
  /**
   * The cert's authorizations failed `[daemon] max_authz_failures` times since its last success:
   * nothing is tried again until `rota renew CERT --force` (issue 12 §5). `lastError` is the CA's.
   */
  | { type: "cert.halted"; certId: string; failures: number; lastError: string; at: Date }
  /** A forced renewal cleared the cert's halt as it started. */
  | { type: "cert.resumed"; certId: string; at: Date }
  /** A renewal succeeded after the cert's previous one had failed. */
  | { type: "cert.recovered"; certId: string; renewalId: string; at: Date }
  /**
   * An install target needs a person before it can be used again (a DSM login refused, a
   * device token revoked): emitted once when the target latches, never at each attempt.
   */
  | { type: "target.action_required"; target: string; certId: string; code: string; message: string; at: Date }
  /** An operator asked for a test alert (`rota alert test`); null cert or sink: none named. */
  | { type: "alert.test"; certId: string | null; sink: string | null; at: Date }
  /** This node took the cluster lease; `term` counts leadership periods. */
  | { type: "cluster.leader_acquired"; nodeId: string; term: number; at: Date }
  | { type: "cluster.leader_lost"; nodeId: string; term: number; reason: LeaderLostReason; at: Date }
  /** This node will not install the leader's certificate `serial` (its key is missing or another key); once per (node, cert, serial). */
  | { type: "cluster.install_refused"; nodeId: string; certId: string; serial: string; reason: string; at: Date }
  | StoreEvent;

/**
 * The audit store on a server lost its connection (the audit trail is buffered meanwhile),
 * or has it back with everything buffered stored (`flushed`) or given up (`dropped`).
 */
export type StoreEvent =
  | { type: "store.disconnected"; at: Date; error: string }
  | { type: "store.reconnected"; at: Date; flushed: number; dropped: number };

export type Listener = (event: RotaEvent) => void | Promise<void>;

/**
 * A synchronous fan-out. A listener's failure is reported through `onError` and
 * never reaches the emitter; async listeners are tracked so shutdown can `drain()`.
 */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly onError: (err: unknown, event: RotaEvent) => void) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: RotaEvent): void {
    for (const listener of this.listeners) {
      try {
        const result = listener(event);
        if (result instanceof Promise) {
          const tracked = result.catch((err) => this.onError(err, event)).finally(() => this.pending.delete(tracked));
          this.pending.add(tracked);
        }
      } catch (err) {
        this.onError(err, event);
      }
    }
  }

  /** Waits for async listeners still delivering. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
