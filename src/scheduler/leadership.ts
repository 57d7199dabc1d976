/** @module Who may run the scheduler's sweep. One node is always the leader; a cluster lock implements the same seam. */

export interface Leadership {
  /** Whether this node should renew now. Cheap; asked at every tick. */
  isLeader(): Promise<boolean>;
}

export const singleNode: Leadership = { isLeader: async () => true };
