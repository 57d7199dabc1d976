/**
 * @module The renewal worker (`rota __renewal`): reads a hello, then renewal requests one
 * after another on stdin, runs the pipeline for each on backends it keeps warm, and writes
 * their events, audit store writes and outcomes as JSON lines on stdout. It never opens
 * the audit store: what the pipeline reads from it comes in the request, and the daemon,
 * the store's only writer, applies the writes. It exits when its stdin closes (the
 * daemon retired it, or died: a renewal running then is aborted and cleans up first), once
 * every vendor write still in flight has ended and its challenge been removed.
 */
import { writeSync } from "node:fs";
import { systemClock } from "../clock.ts";
import { onCommandGroups } from "../backends/install/command.ts";
import { WarmBackends } from "../daemon/backends.ts";
import { RotaError, describeError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { createLogger, logSettings, scoped } from "../log.ts";
import type { Fence } from "../cluster/types.ts";
import { errorFromWire, outcomeToWire, parseDaemonLine, parseHello, refusedRenewal, type ChildHello, type ChildLine, type ChildRequest, type StoredAck } from "./child-protocol.ts";
import { WORKER_JSC_ENV } from "./child-command.ts";
import { ChallengeJournal } from "./journal.ts";
import { readLines } from "./lines.ts";
import { runRenewal, type PipelineStore, type RunOutcome } from "./renewer.ts";

/** Runs the worker; resolves with its exit code. */
export async function renewalChild(): Promise<number> {
  // Read by the engine at our start; the commands a renewal runs (post_install_command) get the daemon's environment.
  for (const key of Object.keys(WORKER_JSC_ENV)) delete process.env[key];
  let current: { renewalId: string; certId: string; controller: AbortController } | undefined;
  // The daemon puts its resolved level and format in our environment. Backends log under the renewal they serve.
  const root = createLogger({ ...logSettings({}, process.env), component: "renewal", current: () => (current ? { cert: current.certId, renewal: current.renewalId } : {}) });
  let log = root;
  process.on("unhandledRejection", (err) => log.error(`unexpected: ${describeError(err)}`));
  // First of all: a daemon stopping right after our start must not kill us with the default action.
  /** Set by a signal: the renewal running is aborted and nothing more is read. */
  let stopping: Error | undefined;
  let stop = () => {};
  const stopped = new Promise<"stopped">((resolve) => (stop = () => resolve("stopped")));
  const abortAll = (why: string) => {
    stopping ??= new Error(why);
    current?.controller.abort(stopping);
    stop();
  };
  // `on`, not `once`: systemd signals the whole group and the daemon cancels too; a
  // second SIGTERM must not kill us in the middle of removing challenges.
  process.on("SIGTERM", () => abortAll("daemon stopping"));
  process.on("SIGINT", () => abortAll("interrupted"));
  // A reload is the daemon's business: `pkill -HUP rota` or a terminal hangup reaches us too.
  process.on("SIGHUP", () => {});
  const input = readLines(Bun.stdin.stream());
  const first = await input.next();
  // Started without a hello: not by a daemon.
  if (first.done) return 2;
  let hello: ChildHello;
  try {
    hello = parseHello(first.value);
  } catch (err) {
    log.error(describeError(err));
    return 2;
  }

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
      abortAll("daemon went away");
      return false;
    }
  };
  // The daemon kills these groups if we die while they run: a SIGKILL leaves us no chance to.
  onCommandGroups((group) => void send({ group }));
  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  bus.subscribe((event) => void send({ event }));
  // Each step is one backend call or local operation: its time is what an operator chasing a slow renewal needs.
  bus.subscribe((event) => {
    if (event.type === "renewal.step") log.debug(`${event.step} ${event.status} in ${Math.round(event.durationMs)} ms: ${event.message}`);
  });
  const withheld = hello.withheldEnv ?? [];
  const refused = refusedRenewal(hello);
  const backends = new WarmBackends({ stateDir: hello.stateDir, clock: systemClock, log: root, emit: (e) => bus.emit(e), withheldEnv: () => withheld });
  const journal = new ChallengeJournal(hello.stateDir);
  const acks = new StoredAcks();
  /** Removals waiting for a write a publish gave up on: the process outlives none of them. */
  const lingering = new Set<Promise<void>>();
  const linger = (work: Promise<void>) => {
    lingering.add(work);
    void work.finally(() => lingering.delete(work));
  };

  const renew = async (req: ChildRequest): Promise<void> => {
    const controller = new AbortController();
    current = { renewalId: req.renewalId, certId: req.cert.id, controller };
    if (stopping) controller.abort(stopping);
    log = scoped(root, { cert: req.cert.id, renewal: req.renewalId });
    let outcome: RunOutcome;
    try {
      if (refused) throw refused;
      const store = storeViaDaemon(req, send, acks);
      const cert = await backends.runtime(req, req.cluster !== undefined);
      const run = { renewalId: req.renewalId, trigger: req.trigger, signal: controller.signal, installOnly: req.installOnly, newKey: req.newKey, replaces: req.replaces };
      outcome = await runRenewal(cert, { ...run, ...(req.cluster ? { cluster: req.cluster } : {}) }, { store, bus, clock: systemClock, journal, linger });
    } catch (err) {
      outcome = { ok: false, error: err, interrupted: controller.signal.aborted };
    }
    await bus.drain();
    current = undefined;
    log = root;
    send(outcomeToWire(outcome, process.memoryUsage().rss, lingering.size > 0));
  };

  // One renewal at a time, in the order they come; the loop goes on reading for cancels.
  let queue = Promise.resolve();
  for (;;) {
    const next = await Promise.race([input.next(), stopped]);
    if (next === "stopped" || next.done) break;
    let msg;
    try {
      msg = parseDaemonLine(next.value);
    } catch (err) {
      // The daemon waits for an outcome line whatever went wrong; a stack trace on stderr tells it nothing.
      queue = queue.then(() => void send(outcomeToWire({ ok: false, error: err, interrupted: false })));
      continue;
    }
    if ("cancel" in msg) {
      if (current?.renewalId === msg.cancel.renewalId) current.controller.abort(new Error(msg.cancel.reason));
      continue;
    }
    if ("stored" in msg) {
      acks.settle(msg.stored);
      continue;
    }
    const req = msg.renew;
    queue = queue.then(() => renew(req));
  }
  // End of input: the daemon retired us (we are idle) or is gone. A signal: it is stopping.
  abortAll("daemon went away");
  // Nothing more is read: no answer will come, so nothing waiting for one is installed.
  acks.abandon();
  await queue;
  // Exiting would cut off a write still in flight, which the vendor may carry out all the same
  // after the journal sweep found nothing: each is bounded (WRITE_SETTLE_MS), and removed after.
  while (lingering.size > 0) await Promise.all(lingering);
  return 0;
}

/** The daemon's answers to issued-certificate writes, each awaited by the renewal that sent it. */
class StoredAcks {
  private readonly waiting = new Map<string, { resolve: () => void; reject: (err: unknown) => void }>();

  /** Resolves when the daemon says the store took the write, rejects with the store's error (its code kept) when it did not. */
  expect(renewalId: string): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.set(renewalId, { resolve, reject }));
  }

  settle(ack: StoredAck): void {
    const w = this.waiting.get(ack.renewalId);
    if (!w) return;
    this.waiting.delete(ack.renewalId);
    if (ack.error === null) w.resolve();
    else w.reject(errorFromWire(ack.error));
  }

  abandon(): void {
    for (const w of this.waiting.values()) w.reject(new RotaError("daemon_gone", "pipeline: the daemon went away before it said whether the certificate was stored; nothing is installed"));
    this.waiting.clear();
  }
}

/**
 * The pipeline's store, as the daemon serves it: reads from the request, writes sent as
 * lines. The issued certificate waits for the daemon's answer, so a certificate the store
 * did not take (an outage, a lost lease in cluster mode) is never installed: `persist` fails
 * the renewal before install (issue 16). Install records are not waited for: one the daemon
 * cannot apply fails the renewal's outcome (store-writes.ts) after the targets were installed.
 */
function storeViaDaemon(req: ChildRequest, send: (line: ChildLine) => boolean, acks: StoredAcks): PipelineStore {
  const sent = (ok: boolean) => {
    if (!ok) throw new RotaError("daemon_gone", "pipeline: the daemon went away; nothing can be recorded");
  };
  return {
    async latestIssued(certId) {
      return certId === req.cert.id ? req.latestIssued : null;
    },
    async saveIssued(issued, fence?: Fence) {
      sent(send(fence ? { store: "issued", issued, fence } : { store: "issued", issued }));
      // Awaited from the same turn as the send: the answer cannot be read before it is waited for.
      await acks.expect(req.renewalId);
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
