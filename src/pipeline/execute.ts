/** @module How the runner has one renewal's pipeline run: on a renewal worker (the daemon) or in-process (tests). */
import type { RunOutcome, RunRequest } from "./renewer.ts";

export interface ExecuteRequest extends RunRequest {
  certId: string;
}

/**
 * Runs one renewal's pipeline to its outcome, under the config it was made for (a reload
 * makes a new Execute; renewals queued before it keep the old one). The daemon runs it on
 * a worker process (child.ts, worker-pool.ts) so an idle daemon never holds the ACME client
 * or a renewal's garbage; tests run `runRenewal` in-process. Step events reach the bus either way. Once
 * `signal` fires the pipeline removes its challenges and the promise settles; it never rejects.
 */
export type Execute = (req: ExecuteRequest) => Promise<RunOutcome>;
