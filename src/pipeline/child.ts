/**
 * @module Runs renewals in the pool's worker processes (`rota __renewal`, the same
 * executable). The daemon stays small: the ACME client, the certificate library and a
 * renewal's garbage live in the workers, which exit when idle. Step events come back over
 * the worker's stdout and are re-emitted on the daemon's bus, and so do its audit store
 * writes: the daemon is the store's only writer (store-writes.ts). A cancel reaches the
 * worker as a line; a worker learns the daemon died when its stdin closes.
 */
import { COMMIT, VERSION } from "../cli/version.ts";
import type { Clock } from "../clock.ts";
import type { RotaConfig } from "../config/schema.ts";
import { RotaError, describeError } from "../errors.ts";
import type { EventBus } from "../events.ts";
import { scoped, type Logger } from "../log.ts";
import type { IssuedCert } from "../store/types.ts";
import type { Advisors } from "./advisors.ts";
import { certSections, sectionKeys } from "./cert-sections.ts";
import { CHILD_COMMAND, WORKER_JSC_ENV } from "./child-command.ts";
import { outcomeFromWire, type ChildHello, type ChildRequest } from "./child-protocol.ts";
import type { Execute } from "./execute.ts";
import { readLines } from "./lines.ts";
import { OpenStep } from "./open-step.ts";
import type { PipelineStore, RunOutcome } from "./renewer.ts";
import { StoreWrites } from "./store-writes.ts";
import type { WorkerPool, WorkerProcess } from "./worker-pool.ts";

/** How to start this same program again: the compiled executable, or bun with the entry script. */
function selfCommand(): string[] {
  const exe = executablePath(process.execPath);
  return Bun.main.startsWith("/$bunfs/") ? [exe] : [exe, Bun.main];
}

/**
 * The path the executable was started from, as the kernel names it. Bun reads
 * `/proc/self/exe` at the first use of `process.execPath`; once the file there was replaced
 * by a rename (install.sh's upgrade), the link names the old, deleted inode as
 * `<path> (deleted)`, which cannot be spawned. The binary now at `<path>` is started instead,
 * and its version check refuses a daemon of another build (child-protocol.ts), saying to restart.
 */
export function executablePath(execPath: string): string {
  return execPath.endsWith(DELETED) ? execPath.slice(0, -DELETED.length) : execPath;
}

/** What Linux appends to `/proc/<pid>/exe` once the file it names is gone (proc(5)). */
const DELETED = " (deleted)";

/** Starts a worker process and hands it `hello`, its first line. `command`: how to start rota (a test runs it from source). */
export function spawnWorker(hello: ChildHello, command: string[] = selfCommand()): WorkerProcess {
  // Bun's default is the environment as the process started; the daemon has since put its log settings in process.env.
  const child = Bun.spawn([...command, CHILD_COMMAND], { env: { ...process.env, ...WORKER_JSC_ENV }, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const send = (line: string): boolean => {
    try {
      child.stdin.write(`${line}\n`);
      void child.stdin.flush();
      return true;
    } catch {
      return false;
    }
  };
  send(JSON.stringify({ hello }));
  return {
    pid: child.pid,
    send,
    close() {
      try {
        void child.stdin.end();
      } catch {
        // Already closed: the worker is gone.
      }
    },
    kill: (signal) => child.kill(signal),
    lines: readLines(child.stdout),
    exited: child.exited.then((code) => (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${code}`)),
  };
}

/**
 * Runs each renewal of `config` on a worker of `pool`. With `advisors`, an order that
 * replaces a stored certificate carries `replaces` when its CA answered ARI for it
 * (issue 12 §3); the scheduler's own ARI state may supply it here later. A worker that ends
 * without an outcome has the step it was in recorded as failed, saying how it ended.
 */
export interface ExecutorDeps {
  bus: EventBus;
  store: PipelineStore;
  log: Logger;
  pool: WorkerPool;
  /** Dates the step a worker that died left open (open-step.ts). */
  clock: Clock;
  advisors?: Advisors;
}

export function childExecutor(config: RotaConfig, deps: ExecutorDeps): Execute {
  const { bus, store, log, pool, clock, advisors } = deps;
  return async (req): Promise<RunOutcome> => {
    let latestIssued: IssuedCert | null;
    try {
      latestIssued = await store.latestIssued(req.certId);
    } catch (err) {
      return { ok: false, error: new RotaError("store_failed", `pipeline: cannot read the stored certificate of ${req.certId}`, { cause: err }), interrupted: false };
    }
    let request: ChildRequest;
    try {
      const sections = certSections(config, req.certId);
      const replaces =
        req.replaces ?? (advisors && latestIssued && !req.installOnly ? await advisors.replacesFor(sections.ca, latestIssued.leafPem, sections.cert.domains, req.signal) : undefined);
      request = {
        ...sections,
        renewalId: req.renewalId,
        trigger: req.trigger,
        installOnly: req.installOnly,
        newKey: req.newKey,
        ...(replaces === undefined ? {} : { replaces }),
        latestIssued,
        daemon: { version: VERSION, commit: COMMIT },
        ...(req.cluster ? { cluster: req.cluster } : {}),
      };
    } catch (err) {
      return { ok: false, error: err, interrupted: false };
    }
    const childLog = scoped(log, { component: "pipeline", cert: req.certId, renewal: req.renewalId });
    const writes = new StoreWrites(store, req.certId, childLog);
    const open = new OpenStep(req.renewalId, req.certId, req.installOnly ?? request.cert.install);
    const end = await pool.run({
      renewalId: req.renewalId,
      request: JSON.stringify({ renew: request }),
      sections: sectionKeys(request),
      signal: req.signal,
      log: childLog,
      onLine: (line, reply) => {
        open.seen(line);
        if ("event" in line) bus.emit(line.event);
        else writes.apply(line, reply);
      },
      onBadWrite: (err) => writes.unreadable(err),
    });
    // Final once every write sent before the end is in the store.
    const failed = await writes.settled();
    if ("outcome" in end) {
      const outcome = outcomeFromWire(end.outcome);
      return outcome.ok && failed ? { ok: false, error: failed, interrupted: false } : outcome;
    }
    const left = open.interrupted("stuck" in end ? `process ${end.stuck} did not exit after SIGKILL` : end.ended, clock.now());
    if (left) bus.emit(left);
    if ("stuck" in end) {
      childLog.error(`renewal process ${end.stuck} did not exit after SIGKILL (blocked in the kernel, e.g. on a mount that stopped answering); giving up on it`);
      return { ok: false, error: new RotaError("child_stuck", `pipeline: the renewal process ${end.stuck} did not exit after SIGKILL`), interrupted: req.signal.aborted };
    }
    // Cancelled before the worker could say so (it may have been killed for not answering): the cancel is the reason.
    if (req.signal.aborted) return { ok: false, error: new RotaError("aborted", `pipeline: cancelled (${describeError(req.signal.reason)}); the renewal process ended without an outcome (${end.ended})`), interrupted: true };
    return { ok: false, error: new RotaError("child_failed", `pipeline: the renewal process ended without an outcome (${end.ended})`), interrupted: false };
  };
}
