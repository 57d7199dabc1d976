/**
 * @module Runs a renewal in a child process of the same executable (`rota __renewal`).
 * The daemon stays small: the ACME client, the certificate library and a renewal's
 * garbage live and die with the child. Step events come back over stdout and are
 * re-emitted on the daemon's bus; the child aborts on SIGTERM, and also when its stdin
 * closes, which is how it learns the daemon died. The child's audit store writes come
 * back as lines too: the daemon is the store's only writer (store-writes.ts).
 */
import type { Subprocess } from "bun";
import { COMMIT, VERSION } from "../cli/version.ts";
import type { RotaConfig } from "../config/schema.ts";
import { RotaError, describeError } from "../errors.ts";
import type { EventBus } from "../events.ts";
import { scoped, type Logger } from "../log.ts";
import { CHILD_COMMAND } from "./child-command.ts";
import type { Execute } from "./execute.ts";
import type { IssuedCert } from "../store/types.ts";
import { outcomeFromWire, parseChildLine, type ChildRequest } from "./child-protocol.ts";
import { readLines } from "./lines.ts";
import type { PipelineStore, RunOutcome } from "./renewer.ts";
import { StoreWrites } from "./store-writes.ts";

/**
 * How long a renewal process may take to remove its challenges and exit after SIGTERM
 * before it is killed; the journal then removes what it left, at the daemon's next sweep.
 */
const KILL_AFTER_MS = 10_000;
/**
 * How long after SIGKILL a renewal process may still not have exited before it is given up
 * on. A process blocked in the kernel (a hard-mounted NFS share that stopped answering)
 * cannot die until the call returns; its slot and its cert must not wait with it.
 */
const ABANDON_AFTER_KILL_MS = 5_000;

/** How to start this same program again: the compiled executable, or bun with the entry script. */
function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

function howEnded(child: Pick<Subprocess, "signalCode">, code: number): string {
  return child.signalCode ? `killed by ${child.signalCode}` : `exit code ${code}`;
}

/**
 * `live` holds each renewal process from its start until it exits: what a daemon out of time
 * at shutdown kills (SIGKILL) rather than leave behind.
 */
export function childExecutor(config: RotaConfig, bus: EventBus, store: PipelineStore, log: Logger, live: Set<Subprocess>): Execute {
  return async (req): Promise<RunOutcome> => {
    let latestIssued: IssuedCert | null;
    try {
      latestIssued = await store.latestIssued(req.certId);
    } catch (err) {
      return { ok: false, error: new RotaError("store_failed", `pipeline: cannot read the stored certificate of ${req.certId}`, { cause: err }), interrupted: false };
    }
    const request: ChildRequest = { config, certId: req.certId, renewalId: req.renewalId, trigger: req.trigger, installOnly: req.installOnly, newKey: req.newKey, latestIssued, daemon: { version: VERSION, commit: COMMIT } };
    // Bun's default is the environment as the process started; the daemon has since put its log settings in process.env.
    const child = Bun.spawn([...selfCommand(), CHILD_COMMAND], { env: process.env, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    live.add(child);
    void child.exited.finally(() => live.delete(child));
    const started = performance.now();
    const childLog = scoped(log, { component: "pipeline", cert: req.certId, renewal: req.renewalId });
    childLog.debug(`renewal process ${child.pid} started`);
    void child.exited.then((code) => childLog.debug(`renewal process ${child.pid} ended (${howEnded(child, code)}) after ${Math.round(performance.now() - started)} ms`));
    child.stdin.write(`${JSON.stringify(request)}\n`);
    child.stdin.flush();
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let abandonTimer: ReturnType<typeof setTimeout> | undefined;
    let abandon = () => {};
    const abandoned = new Promise<"abandoned">((resolve) => (abandon = () => resolve("abandoned")));
    const onAbort = () => {
      child.kill("SIGTERM");
      // A process stuck in a system call never runs its SIGTERM handler.
      killTimer ??= setTimeout(() => {
        child.kill("SIGKILL");
        abandonTimer = setTimeout(abandon, ABANDON_AFTER_KILL_MS);
      }, KILL_AFTER_MS);
    };
    req.signal.addEventListener("abort", onAbort, { once: true });
    if (req.signal.aborted) onAbort();
    let outcome: RunOutcome | undefined;
    const writes = new StoreWrites(store, req.certId, childLog);
    const follow = async (): Promise<number> => {
      for await (const line of readLines(child.stdout)) {
        let msg;
        try {
          msg = parseChildLine(line);
        } catch (err) {
          if (err instanceof RotaError && err.code === "bad_store_write") writes.unreadable(err);
          // Never kill the child over a garbled line: it may be about to remove its challenges.
          else childLog.warn(`renewal ${req.renewalId}: ignoring an unreadable line from the renewal process`);
          continue;
        }
        if ("event" in msg) bus.emit(msg.event);
        else if ("store" in msg) writes.apply(msg);
        else outcome = outcomeFromWire(msg);
      }
      return child.exited;
    };
    try {
      const ended = await Promise.race([follow(), abandoned]);
      if (ended === "abandoned") {
        childLog.error(`renewal process ${child.pid} did not exit after SIGKILL (blocked in the kernel, e.g. on a mount that stopped answering); giving up on it`);
        return { ok: false, error: new RotaError("child_stuck", `pipeline: the renewal process ${child.pid} did not exit after SIGKILL`), interrupted: req.signal.aborted };
      }
      if (outcome) {
        // Final once every write sent before it is in the store.
        const failed = await writes.settled();
        return outcome.ok && failed ? { ok: false, error: failed, interrupted: false } : outcome;
      }
      // Cancelled before the process could say so (it may not have been listening for signals yet): the cancel is the reason.
      if (req.signal.aborted) return { ok: false, error: new RotaError("aborted", `pipeline: cancelled (${describeError(req.signal.reason)}); the renewal process ended without an outcome (${howEnded(child, ended)})`), interrupted: true };
      return { ok: false, error: new RotaError("child_failed", `pipeline: the renewal process ended without an outcome (${howEnded(child, ended)})`), interrupted: false };
    } catch (err) {
      childLog.error(`renewal ${req.renewalId}: ${(err as Error).message}`);
      child.kill("SIGTERM");
      return { ok: false, error: new RotaError("child_failed", "pipeline: lost the renewal process", { cause: err }), interrupted: req.signal.aborted };
    } finally {
      clearTimeout(killTimer);
      clearTimeout(abandonTimer);
      req.signal.removeEventListener("abort", onAbort);
      child.stdin.end();
    }
  };
}
