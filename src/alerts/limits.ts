/**
 * @module Where the alert repeat limit lives (issue 17). On one node, and on a cluster's
 * leader, in the audit store, so a restart sends nothing new. The store is shared by a
 * cluster's nodes: the leader alone writes it there, so followers never race it or
 * duplicate its alerts; a follower limits what it sends itself (its own install failures)
 * in memory, for as long as it runs.
 */
import type { Leadership } from "../scheduler/leadership.ts";
import type { AlertLimit, AuditStore } from "../store/types.ts";

export type AlertLimits = Pick<AuditStore, "alertLimit" | "putAlertLimit" | "clearAlertLimit">;

/** A node's own limits, in memory. */
export class MemoryAlertLimits implements AlertLimits {
  private readonly limits = new Map<string, AlertLimit>();

  async alertLimit(sink: string, key: string): Promise<AlertLimit | null> {
    return this.limits.get(JSON.stringify([sink, key])) ?? null;
  }

  async putAlertLimit(limit: AlertLimit): Promise<void> {
    this.limits.set(JSON.stringify([limit.sink, limit.key]), { ...limit });
  }

  async clearAlertLimit(sink: string, key: string): Promise<void> {
    this.limits.delete(JSON.stringify([sink, key]));
  }
}

/** The shared limits while this node leads, its own in memory while it follows; asked at each call, as leadership changes. */
export class LeaderAlertLimits implements AlertLimits {
  private readonly local = new MemoryAlertLimits();

  constructor(
    private readonly shared: AlertLimits,
    private readonly leadership: Leadership,
  ) {}

  private now(): AlertLimits {
    return this.leadership.isLeader() ? this.shared : this.local;
  }

  alertLimit(sink: string, key: string): Promise<AlertLimit | null> {
    return this.now().alertLimit(sink, key);
  }

  putAlertLimit(limit: AlertLimit): Promise<void> {
    return this.now().putAlertLimit(limit);
  }

  clearAlertLimit(sink: string, key: string): Promise<void> {
    return this.now().clearAlertLimit(sink, key);
  }
}
