/**
 * @module The renewal child (`rota __renewal`): reads one ChildRequest on stdin, runs the
 * pipeline for that cert, writes its events, its audit store writes and its outcome as
 * JSON lines on stdout. It never opens the audit store: what the pipeline reads from it
 * comes in the request, and the daemon, the store's only writer, applies the writes.
 */
import { writeSync } from "node:fs";
import { systemClock } from "../clock.ts";
import { buildRuntime } from "../daemon/backends.ts";
import { RotaError, describeError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { createLogger, logSettings, scoped } from "../log.ts";
import { outcomeToWire, parseChildRequest, type ChildLine, type ChildRequest } from "./child-protocol.ts";
import { ChallengeJournal } from "./journal.ts";
import { readLines } from "./lines.ts";
import { runRenewal, type PipelineStore, type RunOutcome } from "./renewer.ts";

/** Runs the child; resolves with its exit code. */
export async function renewalChild(): Promise<number> {
  // The daemon puts its resolved level and format in our environment.
  const root = createLogger({ ...logSettings({}, process.env), component: "renewal" });
  let log = root;
  process.on("unhandledRejection", (err) => log.error(`unexpected: ${describeError(err)}`));
  // First of all: a daemon stopping right after our start must not kill us with the default action.
  const controller = new AbortController();
  const abort = (why: string) => controller.abort(new Error(why));
  // `on`, not `once`: systemd signals the whole group and the daemon signals us too; a
  // second SIGTERM must not kill us in the middle of removing challenges.
  process.on("SIGTERM", () => abort("daemon stopping"));
  process.on("SIGINT", () => abort("interrupted"));
  // A reload is the daemon's business: `pkill -HUP rota` or a terminal hangup reaches us too.
  process.on("SIGHUP", () => {});
  const input = readLines(Bun.stdin.stream());
  const first = await input.next();
  // Started without a request: not by a daemon.
  if (first.done) return 2;

  // The daemon keeps our stdin open for as long as it lives: end of input means it is gone.
  void (async () => {
    for await (const _ of input);
    abort("daemon went away");
  })();

  let daemonGone = false;
  // Written at once, not queued: a step that then blocks the event loop (a sync call on a
  // hung mount) must not keep its own "started" line from the daemon, which names the step
  // when the renewal times out. Once stdout is closed the daemon is gone: stop talking,
  // keep cleaning up, exit quietly. Says whether the line went out.
  const send = (line: ChildLine): boolean => {
    if (daemonGone) return false;
    try {
      writeAll(`${JSON.stringify(line)}\n`);
      return true;
    } catch {
      daemonGone = true;
      abort("daemon went away");
      return false;
    }
  };
  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  bus.subscribe((event) => void send({ event }));
  // Each step is one backend call or local operation: its time is what an operator chasing a slow renewal needs.
  bus.subscribe((event) => {
    if (event.type === "renewal.step") log.debug(`${event.step} ${event.status} in ${Math.round(event.durationMs)} ms: ${event.message}`);
  });

  let req: ChildRequest;
  try {
    req = parseChildRequest(first.value);
  } catch (err) {
    // The daemon waits for an outcome line whatever went wrong; a stack trace on stderr tells it nothing.
    send(outcomeToWire({ ok: false, error: err, interrupted: false }));
    return 0;
  }
  log = scoped(root, { cert: req.certId, renewal: req.renewalId });
  const { config } = req;
  let outcome: RunOutcome;
  try {
    const store = storeViaDaemon(req, send);
    const cert = await buildRuntime(config, req.certId, { stateDir: config.daemon.stateDir, clock: systemClock, log, emit: (e) => bus.emit(e) });
    const journal = new ChallengeJournal(config.daemon.stateDir);
    outcome = await runRenewal(cert, { renewalId: req.renewalId, trigger: req.trigger, signal: controller.signal, installOnly: req.installOnly, newKey: req.newKey }, { store, bus, clock: systemClock, journal });
  } catch (err) {
    outcome = { ok: false, error: err, interrupted: controller.signal.aborted };
  }
  await bus.drain();
  send(outcomeToWire(outcome));
  return 0;
}

/**
 * The pipeline's store, as the daemon serves it: reads from the request, writes sent as
 * lines without waiting for the daemon to apply them. A write the daemon cannot apply
 * fails the renewal's outcome (store-writes.ts), even if the targets were installed.
 */
function storeViaDaemon(req: ChildRequest, send: (line: ChildLine) => boolean): PipelineStore {
  const sent = (ok: boolean) => {
    if (!ok) throw new RotaError("daemon_gone", "pipeline: the daemon went away; nothing can be recorded");
  };
  return {
    async latestIssued(certId) {
      return certId === req.certId ? req.latestIssued : null;
    },
    async saveIssued(issued) {
      sent(send({ store: "issued", issued }));
    },
    async saveInstalled(installed) {
      sent(send({ store: "installed", installed }));
    },
  };
}

/** Blocks this thread a few milliseconds, without spinning: what a full pipe gets. */
const pause = (() => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return (ms: number) => void Atomics.wait(cell, 0, 0, ms);
})();

/** Writes all of `text` to `fd` (stdout: a pipe to the daemon), however the kernel splits it. */
export function writeAll(text: string, fd = 1): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      // A non-blocking pipe the daemon has not drained yet: a moment, not an error. Waiting
      // blocks the thread, as a blocking write would; `send` relies on that.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      pause(2);
    }
  }
}
