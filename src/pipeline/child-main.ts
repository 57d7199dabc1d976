/**
 * @module The renewal child (`rota __renewal`): reads one ChildRequest on stdin, runs the
 * pipeline for that cert, writes its events and outcome as JSON lines on stdout. It
 * writes issued certificates to the audit store itself; audit rows go through the daemon.
 */
import { writeSync } from "node:fs";
import { systemClock } from "../clock.ts";
import { buildRuntime } from "../daemon/backends.ts";
import { describeError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { createLogger, logSettings, scoped } from "../log.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { outcomeToWire, parseChildRequest, type ChildLine, type ChildRequest } from "./child-protocol.ts";
import { ChallengeJournal } from "./journal.ts";
import { readLines } from "./lines.ts";
import { runRenewal, type RunOutcome } from "./renewer.ts";

/** Runs the child; resolves with its exit code. */
export async function renewalChild(): Promise<number> {
  // The daemon puts its resolved level and format in our environment.
  const root = createLogger({ ...logSettings({}, process.env), component: "renewal" });
  let log = root;
  process.on("unhandledRejection", (err) => log.error(`unexpected: ${describeError(err)}`));
  const input = readLines(Bun.stdin.stream());
  const first = await input.next();
  // Started without a request: not by a daemon.
  if (first.done) return 2;

  const controller = new AbortController();
  const abort = (why: string) => controller.abort(new Error(why));
  // `on`, not `once`: systemd signals the whole group and the daemon signals us too; a
  // second SIGTERM must not kill us in the middle of removing challenges.
  process.on("SIGTERM", () => abort("daemon stopping"));
  process.on("SIGINT", () => abort("interrupted"));
  // A reload is the daemon's business: `pkill -HUP rota` or a terminal hangup reaches us too.
  process.on("SIGHUP", () => {});
  // The daemon keeps our stdin open for as long as it lives: end of input means it is gone.
  void (async () => {
    for await (const _ of input);
    abort("daemon went away");
  })();

  let daemonGone = false;
  // Written at once, not queued: a step that then blocks the event loop (a sync call on a
  // hung mount) must not keep its own "started" line from the daemon, which names the step
  // when the renewal times out. Once stdout is closed the daemon is gone: stop talking,
  // keep cleaning up, exit quietly.
  const send = (line: ChildLine) => {
    if (daemonGone) return;
    try {
      writeAll(`${JSON.stringify(line)}\n`);
    } catch {
      daemonGone = true;
      abort("daemon went away");
    }
  };
  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  bus.subscribe((event) => send({ event }));
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
  let store: SqliteAuditStore | undefined;
  let outcome: RunOutcome;
  try {
    store = new SqliteAuditStore(config.audit.path);
    const cert = await buildRuntime(config, req.certId, { stateDir: config.daemon.stateDir, clock: systemClock, log });
    const journal = new ChallengeJournal(config.daemon.stateDir);
    outcome = await runRenewal(cert, { renewalId: req.renewalId, trigger: req.trigger, signal: controller.signal, installOnly: req.installOnly, newKey: req.newKey }, { store, bus, clock: systemClock, journal });
  } catch (err) {
    outcome = { ok: false, error: err, interrupted: controller.signal.aborted };
  } finally {
    await store?.close();
  }
  await bus.drain();
  send(outcomeToWire(outcome));
  return 0;
}

/** Writes all of `text` to stdout (a pipe to the daemon), however the kernel splits it. */
function writeAll(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off, buf.length - off);
    } catch (err) {
      // The daemon drains the pipe as it goes: a full pipe is a moment, not an error.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
  }
}
