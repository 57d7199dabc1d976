/** @module Who may run the scheduler's sweep. One node is always the leader; a cluster lock implements the same seam. */
import type { Fence, LeaderInfo } from "../cluster/types.ts";

export interface Leadership {
  /**
   * Whether this node should order certificates now. Cheap and synchronous: asked at every
   * tick and before each launch. A lease holder answers false by itself once its lease is
   * past the point it may still trust it, even if its refresh loop hangs.
   */
  isLeader(): boolean;
  /** What a write of an issued certificate must prove it still holds; null when there is nothing to prove (one node). */
  fence(): Fence | null;
  /** The live lease as this node last saw it; null on a single node, or when no node leads. */
  leader(): LeaderInfo | null;
}

export const singleNode: Leadership = { isLeader: () => true, fence: () => null, leader: () => null };
