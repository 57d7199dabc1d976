/**
 * @module One renewal as the runner holds it, from `start` to its end. A first issuance queues
 * every cert at once (10,000 at a time, issue 11), so a waiting renewal is this object alone,
 * what starting it later needs: no promise, controller or closure. Its controller is made when
 * it gets its slot (or is aborted while it waits), its promise when someone asks for `done`.
 */
import type { StepName, Trigger } from "../events.ts";
import type { RunOutcome } from "../pipeline/renewer.ts";
import type { Waiter } from "./limiter.ts";

export interface Started {
  renewalId: string;
  /** Made when first asked for: a renewal nobody waits on costs no promise while it is queued. */
  readonly done: Promise<RunOutcome>;
}

export interface StartOptions {
  /** Re-install the newest stored certificate on these targets instead of ordering a new one. */
  installOnly?: string[];
  /** The decision that started the run, for the audit row. */
  reason?: string;
  /** Order with a fresh key (kept at key_path once the certificate is issued). */
  newKey?: boolean;
  /**
   * Called once, when the run gets its slot or is aborted while it waits, with the run (what
   * `done` resolves to). One function shared by every start keeps a queued renewal free of a
   * follow-up of its own; it may be called before `start` returns.
   */
  onRun?: (certId: string, run: Promise<RunOutcome>) => void;
}

/**
 * Runs a waiting renewal: with its slot's release, or with null when it was aborted while
 * it waited (its controller then aborted already). Called once per entry.
 */
export type Dispatch = (entry: RunEntry, release: (() => void) | null) => void;

export class RunEntry implements Started, Waiter {
  /** Made when the renewal gets its slot or is aborted while it waits; null while it waits. */
  controller: AbortController | null = null;
  /** The pipeline step in progress, for the deadline's message. */
  step: StepName | null = null;
  /** What `done` returns: the run once it began, or a promise it resolves when it begins. */
  private settled: Promise<RunOutcome> | null = null;
  private resolveSettled: ((run: Promise<RunOutcome>) => void) | null = null;

  constructor(
    readonly certId: string,
    readonly renewalId: string,
    readonly trigger: Trigger,
    readonly opts: StartOptions,
    /** The deadline the cert's CA needs at least (a Namecheap CA's issuance_timeout_seconds + 300). */
    readonly minSeconds: number,
    private readonly dispatch: Dispatch,
  ) {}

  /** Puts a stored certificate back: goes on when this node stops leading. */
  get installOnly(): boolean {
    return this.opts.installOnly !== undefined;
  }

  get done(): Promise<RunOutcome> {
    return (this.settled ??= new Promise((resolve) => (this.resolveSettled = resolve)));
  }

  /** The limiter's call: the slot is free. */
  grant(release: () => void): void {
    this.dispatch(this, release);
  }

  /** The run has begun (or ended at once, aborted while waiting): `done` follows it. */
  began(run: Promise<RunOutcome>): void {
    if (this.resolveSettled) this.resolveSettled(run);
    else this.settled = run;
    this.resolveSettled = null;
  }
}
