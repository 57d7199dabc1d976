/**
 * @module The pool of renewal workers: long-lived processes of the same executable, each
 * running renewals one after another, so a renewal pays neither a process start nor
 * cold backends. The runner's limit bounds how many are busy; a worker is recycled
 * (its stdin closed, so it exits) after `idleMs` without work, after `maxRenewals`, once
 * its memory after a renewal is above `maxRssBytes`, when a reload changes a section it
 * loaded or what every worker is handed at its start, and after a line it could not have
 * meant. A worker that dies ends its renewal without an outcome; the next renewal starts a
 * new one. The commands it was running die with it: it names each one's process group as it
 * starts, and the pool kills those still running once the worker is gone (or given up on).
 */
import type { Cancel, Clock } from "../clock.ts";
import { RotaError, describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { WRITE_SETTLE_MS } from "../backends/dcv/unfinished.ts";
import { parseChildLine, type ChildLine, type DaemonLine, type GroupLine, type OutcomeLine } from "./child-protocol.ts";

/** One worker process, as the pool drives it (a real one in child.ts, fakes in tests). */
export interface WorkerProcess {
  readonly pid: number;
  /** Writes one line to its stdin; false when the pipe is closed. */
  send(line: string): boolean;
  /** Closes its stdin: an idle worker exits, a busy one aborts its renewal as if the daemon were gone. */
  close(): void;
  kill(signal: "SIGKILL"): void;
  /** Its stdout, line by line, ending when it closes. */
  readonly lines: AsyncIterable<string>;
  /** How it ended ("exit code 0", "killed by SIGKILL"), once it has. */
  readonly exited: Promise<string>;
}

export interface PoolSettings {
  /** A worker without work this long exits. */
  idleMs: number;
  /** A worker exits after this many renewals. */
  maxRenewals: number;
  /** A worker whose resident memory after a renewal is above this exits. */
  maxRssBytes: number;
  /** Idle workers kept at most: the renewal slots. */
  maxIdle: number;
}

export interface PoolDeps {
  spawn: () => WorkerProcess;
  clock: Clock;
  log: Logger;
  /** SIGKILL to a process group (`killGroup` in command.ts); false when it had no process left. */
  killGroup: (pgid: number) => boolean;
  /** Called each time the last worker has exited: renewals are over for now, and what they left in the daemon's heap can go. */
  onEmpty?: () => void;
}

/** One renewal handed to a worker. */
export interface Job {
  renewalId: string;
  /** The request line as the worker reads it. */
  request: string;
  /** The backend sections it loads (`ca internal`, as reloads name them). */
  sections: string[];
  signal: AbortSignal;
  /** Scoped to the renewal: what the pool says about it. */
  log: Logger;
  /** Every line of the renewal before its outcome: step events and store writes, in order. `reply` sends a line back to its worker. */
  onLine(line: Exclude<ChildLine, OutcomeLine | GroupLine>, reply: (line: DaemonLine) => void): void;
  /** A store write that could not be read: lost. */
  onBadWrite(err: RotaError): void;
}

/** How a job ended: its outcome line, the worker gone without one (how), or a worker that SIGKILL did not end. */
export type JobEnd = { outcome: OutcomeLine } | { ended: string } | { stuck: number };

/**
 * How long a worker may take to end its renewal after a cancel, or to exit once told to,
 * before it is killed; the journal removes what it left, at the end of its renewal.
 */
export const KILL_AFTER_MS = 10_000;
/**
 * How long after SIGKILL a worker may still not have exited before it is given up on. A
 * process blocked in the kernel (a hard-mounted NFS share that stopped answering) cannot
 * die until the call returns; its slot and its cert must not wait with it.
 */
export const ABANDON_AFTER_KILL_MS = 5_000;
/**
 * How long a retired worker whose last outcome said `lingering` may take to exit: a vendor
 * write still in flight ends within WRITE_SETTLE_MS, and its challenge's removal follows.
 * Killed sooner, the write is cut off, and the vendor may carry it out after the sweep looked.
 */
export const LINGER_KILL_MS = WRITE_SETTLE_MS + KILL_AFTER_MS;

interface Running {
  job: Job;
  end: (end: JobEnd) => void;
}

class Worker {
  renewals = 0;
  readonly sections = new Set<string>();
  running: Running | undefined;
  /** Told to exit, or found untrustworthy: takes no more work. */
  retired = false;
  gone = false;
  /** SIGKILLed and still there: blocked in the kernel, nothing more to wait for. */
  stuck = false;
  unreadable = 0;
  /** Its last outcome said a write was still in flight (OutcomeLine.lingering). */
  lingering = false;
  /** The process groups of the commands it runs now, by pgid: the config key each came from. */
  readonly groups = new Map<number, string>();
  cancelIdle: Cancel = () => {};
  constructor(readonly proc: WorkerProcess) {}
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly workers = new Set<Worker>();

  constructor(
    private readonly deps: PoolDeps,
    private settings: PoolSettings,
  ) {}

  /** Workers alive now, busy or not (also those retired and not yet exited). */
  get size(): number {
    return this.workers.size;
  }

  /** New settings: idle timers start again under the new idle time, idle workers above the new limit go. */
  configure(settings: PoolSettings): void {
    this.settings = settings;
    for (const w of [...this.idle]) {
      if (this.idle.length > settings.maxIdle) this.retire(w, "the renewal limit was lowered");
      else this.armIdle(w);
    }
  }

  /** Runs one job on an idle worker, or a new one. Never rejects. */
  run(job: Job): Promise<JobEnd> {
    const w = this.idle.pop() ?? this.start();
    w.cancelIdle();
    for (const s of job.sections) w.sections.add(s);
    return new Promise<JobEnd>((resolve) => {
      const timers: Cancel[] = [];
      const onAbort = () => {
        w.proc.send(JSON.stringify({ cancel: { renewalId: job.renewalId, reason: describeError(job.signal.reason) } }));
        // A worker stuck in a system call never reads the cancel.
        timers.push(
          this.deps.clock.setTimeout(() => {
            job.log.warn(`renewal process ${w.proc.pid} did not end renewal ${job.renewalId} within ${KILL_AFTER_MS / 1000} s of its cancel; killing it`);
            w.proc.kill("SIGKILL");
            timers.push(
              this.deps.clock.setTimeout(() => {
                w.stuck = true;
                this.killGroups(w);
                finish({ stuck: w.proc.pid });
              }, ABANDON_AFTER_KILL_MS),
            );
          }, KILL_AFTER_MS),
        );
      };
      const finish = (end: JobEnd) => {
        if (w.running?.job !== job) return;
        w.running = undefined;
        for (const cancel of timers) cancel();
        job.signal.removeEventListener("abort", onAbort);
        this.release(w, end);
        resolve(end);
      };
      w.running = { job, end: finish };
      job.log.debug(`renewal ${job.renewalId} runs in renewal process ${w.proc.pid} (its renewal ${w.renewals + 1})`);
      job.signal.addEventListener("abort", onAbort, { once: true });
      // A worker gone already ends the job by its exit.
      w.proc.send(job.request);
      if (job.signal.aborted) onAbort();
    });
  }

  /** Retires every worker that loaded one of `sections` (`ca internal`): at once if idle, after its renewal if busy. */
  recycle(sections: string[]): void {
    for (const w of this.workers) {
      const loaded = sections.find((s) => w.sections.has(s));
      if (loaded) this.retire(w, `${loaded} changed`);
    }
  }

  /**
   * Retires every worker, `why` in the log: what each was handed at its start (its hello) no
   * longer holds. At once if idle, after its renewal if busy; the next renewal starts a new one.
   */
  recycleAll(why: string): void {
    for (const w of this.workers) this.retire(w, why);
  }

  /** Tells every worker to exit and waits until they have (running renewals should have ended first), except those given up on. */
  async close(): Promise<void> {
    for (const w of this.workers) this.retire(w, "the daemon is stopping");
    await Promise.all([...this.workers].filter((w) => !w.stuck).map((w) => w.proc.exited));
  }

  /** For a daemon out of time: SIGKILL to every worker still alive. Returns their pids. */
  killAll(): number[] {
    const pids = [...this.workers].map((w) => w.proc.pid);
    for (const w of this.workers) {
      w.proc.kill("SIGKILL");
      this.killGroups(w);
    }
    return pids;
  }

  /**
   * Kills the groups of the commands `w` was running, which outlive it otherwise (their
   * leader's parent becomes init): `, its post_install_command (process group 42) killed`
   * for each, or "" when it ran none. A group whose leader exited was told, so a pid reused since is not one of them.
   */
  private killGroups(w: Worker): string {
    const killed = [...w.groups].filter(([pgid]) => this.deps.killGroup(pgid)).map(([pgid, key]) => `its ${key} (process group ${pgid}) killed`);
    for (const said of killed) this.deps.log.warn(`renewal process ${w.proc.pid} is gone: ${said}`);
    w.groups.clear();
    return killed.map((k) => `; ${k}`).join("");
  }

  private start(): Worker {
    const w = new Worker(this.deps.spawn());
    const { log } = this.deps;
    this.workers.add(w);
    log.debug(`renewal process ${w.proc.pid} started`);
    void this.follow(w).then(async () => {
      const how = await w.proc.exited;
      w.gone = true;
      w.cancelIdle();
      this.workers.delete(w);
      this.dropIdle(w);
      if (this.workers.size === 0) this.deps.onEmpty?.();
      log.debug(`renewal process ${w.proc.pid} ended (${how}) after ${w.renewals} renewal(s)`);
      const groups = this.killGroups(w);
      const unreadable = w.unreadable > 0 ? `; it wrote ${w.unreadable} unreadable line(s)` : "";
      w.running?.end({ ended: `${how}${groups}${unreadable}` });
    });
    return w;
  }

  /** Reads the worker's lines until its stdout closes, handing each to the job it belongs to. */
  private async follow(w: Worker): Promise<void> {
    try {
      for await (const text of w.proc.lines) {
        const running = w.running;
        let line: ChildLine;
        try {
          line = parseChildLine(text);
        } catch (err) {
          if (running && err instanceof RotaError && err.code === "bad_store_write") running.job.onBadWrite(err);
          else this.untrusted(w, "an unreadable line");
          continue;
        }
        if ("group" in line) {
          if (line.group.running) w.groups.set(line.group.pgid, line.group.key);
          else w.groups.delete(line.group.pgid);
        } else if (!running) this.untrusted(w, "a line while it had no renewal");
        else if ("outcome" in line) running.end({ outcome: line });
        else running.job.onLine(line, (reply) => void w.proc.send(JSON.stringify(reply)));
      }
    } catch (err) {
      this.deps.log.error(`renewal process ${w.proc.pid}: cannot read its output: ${describeError(err)}`);
      w.proc.kill("SIGKILL");
    }
  }

  /**
   * A worker that wrote what it could not have meant runs nothing more. Never killed for it:
   * it may be about to remove its challenges; it is retired once its renewal ends.
   */
  private untrusted(w: Worker, what: string): void {
    w.unreadable++;
    this.deps.log.warn(`renewal process ${w.proc.pid} wrote ${what}; ignored, and the process is replaced`);
    if (!w.running) this.retire(w, "it wrote what it could not have meant");
    else w.retired = true;
  }

  /** Back to the idle list after a job, or retired. */
  private release(w: Worker, end: JobEnd): void {
    if (!("outcome" in end)) {
      // Gone, or stuck past SIGKILL: it takes no more work either way.
      w.retired = true;
      return;
    }
    w.renewals++;
    w.lingering = end.outcome.lingering === true;
    const rss = end.outcome.rssBytes ?? 0;
    const { maxRenewals, maxRssBytes, maxIdle } = this.settings;
    if (w.retired || w.gone) this.retire(w, "it was due to be replaced");
    else if (w.renewals >= maxRenewals) this.retire(w, `it ran ${w.renewals} renewals`);
    else if (rss > maxRssBytes) this.retire(w, `it uses ${Math.round(rss / 2 ** 20)} MiB`);
    else if (this.idle.length >= maxIdle) this.retire(w, "enough workers are idle");
    else {
      this.idle.push(w);
      this.armIdle(w);
    }
  }

  private armIdle(w: Worker): void {
    w.cancelIdle();
    w.cancelIdle = this.deps.clock.setTimeout(() => this.retire(w, `idle for ${this.settings.idleMs / 1000} s`), this.settings.idleMs);
  }

  /** Closes its stdin so it exits once idle (now, if it is), and kills it if it has not exited in time. */
  private retire(w: Worker, why: string): void {
    w.retired = true;
    if (w.running || w.gone) return;
    this.dropIdle(w);
    w.cancelIdle();
    this.deps.log.debug(`renewal process ${w.proc.pid} retired: ${why}`);
    w.proc.close();
    const within = w.lingering ? LINGER_KILL_MS : KILL_AFTER_MS;
    const cancelKill = this.deps.clock.setTimeout(() => {
      this.deps.log.warn(`renewal process ${w.proc.pid} did not exit within ${within / 1000} s of being retired; killing it`);
      w.proc.kill("SIGKILL");
    }, within);
    void w.proc.exited.then(cancelKill);
  }

  private dropIdle(w: Worker): void {
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
