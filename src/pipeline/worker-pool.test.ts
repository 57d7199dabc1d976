/**
 * @module The worker pool with fake workers in this process: dispatch and reuse, recycling
 * by count, idle time, memory and a reload, and the faults (a worker dying mid-renewal,
 * one that does not answer its cancel, one SIGKILL does not end, one writing garbage).
 * Timers run on a FakeClock; nothing waits on time.
 */
import { describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import { FakeClock } from "../testing/fake-clock.ts";
import type { ChildLine } from "./child-protocol.ts";
import { ABANDON_AFTER_KILL_MS, KILL_AFTER_MS, LINGER_KILL_MS, WorkerPool, type Job, type JobEnd, type PoolSettings, type WorkerProcess } from "./worker-pool.ts";

/** What a fake worker does with each line it is sent (the hello is not part of the fake). */
type Behaviour = (w: FakeWorker, msg: { renew?: { renewalId: string }; cancel?: { renewalId: string; reason: string } }) => void;

class FakeWorker implements WorkerProcess {
  static nextPid = 1000;
  readonly pid = FakeWorker.nextPid++;
  readonly received: string[] = [];
  closed = false;
  /** A process SIGKILL cannot end: blocked in the kernel. */
  unkillable = false;
  private readonly queue: string[] = [];
  private wake = () => {};
  private ended = false;
  private exit = (_: string) => {};
  readonly exited = new Promise<string>((resolve) => (this.exit = resolve));

  constructor(private readonly behave: Behaviour) {}

  send(line: string): boolean {
    if (this.ended) return false;
    this.received.push(line);
    this.behave(this, JSON.parse(line));
    return true;
  }

  close(): void {
    this.closed = true;
    this.die("exit code 0");
  }

  kill(signal: "SIGKILL"): void {
    if (!this.unkillable) this.die(`killed by ${signal}`);
  }

  write(line: unknown): void {
    this.queue.push(typeof line === "string" ? line : JSON.stringify(line));
    this.wake();
  }

  die(how: string): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    void Promise.resolve().then(() => this.exit(how));
  }

  get lines(): AsyncIterable<string> {
    const self = this;
    return (async function* () {
      for (;;) {
        while (self.queue.length > 0) yield self.queue.shift()!;
        if (self.ended) return;
        await new Promise<void>((resolve) => (self.wake = resolve));
      }
    })();
  }
}

const event = (renewalId: string) => ({ event: { type: "renewal.step_started", renewalId, certId: "c", step: "key", at: new Date().toISOString() } });
const outcome = (rssBytes = 50 * 2 ** 20) => ({ outcome: { ok: false, interrupted: false, error: { message: "m", code: "x", noRetry: false } }, rssBytes });

/** Answers every renewal at once: one step event, then its outcome. */
const answers =
  (rssBytes?: number): Behaviour =>
  (w, msg) => {
    if (!msg.renew) return;
    w.write(event(msg.renew.renewalId));
    w.write(outcome(rssBytes));
  };

/** Holds every renewal until the test answers it; answers a cancel as the pipeline does. */
const holds: Behaviour = (w, msg) => {
  if (msg.cancel) w.write({ outcome: { ok: false, interrupted: true, error: { message: msg.cancel.reason, code: "aborted", noRetry: false } } });
};

/** Reads nothing and answers nothing: a SIGSTOPped process. */
const frozen: Behaviour = () => {};

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });
const SETTINGS: PoolSettings = { idleMs: 60_000, maxRenewals: 1000, maxRssBytes: 256 * 2 ** 20, maxIdle: 4 };

function setup(behave: Behaviour, settings: Partial<PoolSettings> = {}, onEmpty?: () => void) {
  const clock = new FakeClock();
  const spawned: FakeWorker[] = [];
  /** The process groups the pool killed, in order; each had a process left in it. */
  const killedGroups: number[] = [];
  const pool = new WorkerPool(
    {
      spawn: () => {
        const w = new FakeWorker(behave);
        spawned.push(w);
        return w;
      },
      clock,
      log: silent,
      killGroup: (pgid) => killedGroups.push(pgid) > 0,
      onEmpty,
    },
    { ...SETTINGS, ...settings },
  );
  let n = 0;
  const job = (over: Partial<Job> = {}) => {
    const lines: ChildLine[] = [];
    const controller = new AbortController();
    const renewalId = `r${++n}`;
    const done = pool.run({ renewalId, request: JSON.stringify({ renew: { renewalId } }), sections: ["ca internal"], signal: controller.signal, log: silent, onLine: (l) => void lines.push(l), onBadWrite: () => {}, ...over });
    return { renewalId, lines, controller, done };
  };
  return { clock, pool, spawned, job, killedGroups };
}

const group = (pgid: number, running: boolean, key = "post_install_command") => ({ group: { pgid, key, running } });

const isOutcome = (end: JobEnd) => "outcome" in end;

describe("dispatch", () => {
  test("renewals one after another reuse one worker; its lines reach the job before its outcome", async () => {
    const { pool, spawned, job } = setup(answers());
    for (let i = 0; i < 5; i++) {
      const j = job();
      expect(isOutcome(await j.done)).toBe(true);
      expect(j.lines).toEqual([expect.objectContaining({ event: expect.objectContaining({ renewalId: j.renewalId }) })]);
    }
    expect(spawned.length).toBe(1);
    expect(spawned[0]!.received.length).toBe(5);
    expect(pool.size).toBe(1);
  });

  test("renewals at once each get their own worker; idle ones are reused after", async () => {
    const { spawned, job } = setup(holds);
    const jobs = [job(), job(), job()];
    expect(spawned.length).toBe(3);
    spawned.forEach((w) => w.write(outcome()));
    await Promise.all(jobs.map((j) => j.done));
    const again = [job(), job(), job()];
    expect(spawned.length).toBe(3);
    spawned.forEach((w) => w.write(outcome()));
    expect((await Promise.all(again.map((j) => j.done))).every(isOutcome)).toBe(true);
  });
});

describe("recycling", () => {
  test("after maxRenewals a worker is told to exit and the next renewal starts a new one", async () => {
    const { spawned, job } = setup(answers(), { maxRenewals: 3 });
    for (let i = 0; i < 3; i++) await job().done;
    expect(spawned[0]!.closed).toBe(true);
    await job().done;
    expect(spawned.length).toBe(2);
    expect(spawned[1]!.closed).toBe(false);
  });

  test("a worker idle for idleMs exits; one used again before that stays", async () => {
    const { clock, spawned, job, pool } = setup(answers(), { idleMs: 60_000 });
    await job().done;
    await clock.advance(59_000);
    await job().done;
    await clock.advance(59_000);
    expect(spawned[0]!.closed).toBe(false);
    await clock.advance(1_000);
    expect(spawned[0]!.closed).toBe(true);
    await spawned[0]!.exited;
    await clock.advance(0);
    expect(pool.size).toBe(0);
  });

  test("the daemon is told each time its last worker has exited, not before", async () => {
    let emptied = 0;
    const { clock, spawned, job } = setup(holds, { maxIdle: 1, idleMs: 60_000 }, () => emptied++);
    const jobs = [job(), job()];
    spawned.forEach((w) => w.write(outcome()));
    await Promise.all(jobs.map((j) => j.done));
    const [gone, kept] = spawned[0]!.closed ? [spawned[0]!, spawned[1]!] : [spawned[1]!, spawned[0]!];
    await gone.exited;
    await clock.advance(0);
    expect(emptied).toBe(0);
    await clock.advance(60_000);
    await kept.exited;
    await clock.advance(0);
    expect(emptied).toBe(1);
  });

  test("a new idle time applies to workers already idle", async () => {
    const { clock, spawned, job, pool } = setup(answers(), { idleMs: 60_000 });
    await job().done;
    pool.configure({ ...SETTINGS, idleMs: 5_000 });
    await clock.advance(5_000);
    expect(spawned[0]!.closed).toBe(true);
  });

  test("a worker whose memory after a renewal is above the ceiling is replaced", async () => {
    const { spawned, job } = setup(answers(300 * 2 ** 20), { maxRssBytes: 256 * 2 ** 20 });
    await job().done;
    expect(spawned[0]!.closed).toBe(true);
    await job().done;
    expect(spawned.length).toBe(2);
  });

  test("idle workers above the renewal limit exit", async () => {
    const { spawned, job } = setup(holds, { maxIdle: 1 });
    const jobs = [job(), job()];
    spawned.forEach((w) => w.write(outcome()));
    await Promise.all(jobs.map((j) => j.done));
    expect(spawned.map((w) => w.closed).sort()).toEqual([false, true]);
  });

  test("a reload changing a section recycles the workers that loaded it: idle at once, busy after their renewal", async () => {
    const { pool, spawned, job } = setup(holds);
    const idle = job();
    const busy = job();
    const other = job({ sections: ["ca acme"] });
    spawned[0]!.write(outcome());
    await idle.done;
    pool.recycle(["ca internal"]);
    expect(spawned.map((w) => w.closed)).toEqual([true, false, false]);
    spawned[1]!.write(outcome());
    spawned[2]!.write(outcome());
    await Promise.all([busy.done, other.done]);
    expect(spawned.map((w) => w.closed)).toEqual([true, true, false]);
  });

  test("recycleAll retires every worker, idle at once, busy after its renewal; the next renewal starts a new one", async () => {
    const { pool, spawned, job } = setup(holds);
    const idle = job();
    const busy = job({ sections: ["ca acme"] });
    spawned[0]!.write(outcome());
    await idle.done;
    pool.recycleAll("the withheld variables changed");
    expect(spawned.map((w) => w.closed)).toEqual([true, false]);
    spawned[1]!.write(outcome());
    await busy.done;
    expect(spawned.map((w) => w.closed)).toEqual([true, true]);
    const next = job();
    expect(spawned.length).toBe(3);
    spawned[2]!.write(outcome());
    await next.done;
  });
});

describe("faults", () => {
  test("a worker killed mid-renewal ends that renewal without an outcome; the other renewal and the pool go on", async () => {
    const { spawned, job, pool } = setup(holds);
    const a = job();
    const b = job();
    spawned[0]!.die("killed by SIGKILL");
    expect(await a.done).toEqual({ ended: "killed by SIGKILL" });
    spawned[1]!.write(outcome());
    expect(isOutcome(await b.done)).toBe(true);
    const c = job();
    expect(spawned.length).toBe(2);
    spawned[1]!.write(outcome());
    expect(isOutcome(await c.done)).toBe(true);
    expect(pool.size).toBe(1);
  });

  test("a cancel reaches the worker as a line naming the renewal and the reason", async () => {
    const { spawned, job } = setup(holds);
    const j = job();
    j.controller.abort(new Error("daemon stopping"));
    const end = await j.done;
    expect(spawned[0]!.received[1]).toBe(JSON.stringify({ cancel: { renewalId: j.renewalId, reason: "daemon stopping" } }));
    expect(end).toMatchObject({ outcome: { outcome: { interrupted: true, error: { message: "daemon stopping" } } } });
  });

  test("a worker that does not answer its cancel (SIGSTOP) is killed after KILL_AFTER_MS and replaced", async () => {
    const { clock, spawned, job } = setup(frozen);
    const j = job();
    j.controller.abort(new Error("timed out"));
    await clock.advance(KILL_AFTER_MS - 1);
    expect(spawned[0]!.closed).toBe(false);
    await clock.advance(1);
    expect(await j.done).toEqual({ ended: "killed by SIGKILL" });
    job();
    expect(spawned.length).toBe(2);
  });

  test("a worker SIGKILL does not end is given up on, naming its pid", async () => {
    const { clock, spawned, job, pool } = setup(frozen);
    const j = job();
    spawned[0]!.unkillable = true;
    j.controller.abort(new Error("timed out"));
    await clock.advance(KILL_AFTER_MS + ABANDON_AFTER_KILL_MS);
    expect(await j.done).toEqual({ stuck: spawned[0]!.pid });
    job();
    expect(spawned.length).toBe(2);
    // Closing does not wait for it: it may never exit.
    spawned[1]!.write(outcome());
    await pool.close();
  });

  test("garbage on stdout, then an exit: the renewal ends naming both; the next one gets a new worker", async () => {
    const { spawned, job } = setup((w, msg) => {
      if (!msg.renew) return;
      w.write("\u0000garbage{");
      w.die("exit code 1");
    });
    expect(await job().done).toEqual({ ended: "exit code 1; it wrote 1 unreadable line(s)" });
    await job().done;
    expect(spawned.length).toBe(2);
  });

  test("garbage, then an outcome: the outcome counts and the worker is replaced after", async () => {
    const { spawned, job } = setup((w, msg) => {
      if (!msg.renew) return;
      w.write("not json");
      w.write(outcome());
    });
    expect(isOutcome(await job().done)).toBe(true);
    expect(spawned[0]!.closed).toBe(true);
  });

  test("a worker killed while its commands run: their process groups are killed with it, and the renewal's end names them", async () => {
    const { spawned, job, killedGroups } = setup(holds);
    const j = job();
    spawned[0]!.write(group(4242, true));
    spawned[0]!.write(group(4300, true, "reload_command"));
    spawned[0]!.write(group(4300, false, "reload_command"));
    spawned[0]!.die("killed by SIGKILL");
    expect(await j.done).toEqual({ ended: "killed by SIGKILL; its post_install_command (process group 4242) killed" });
    // The ended command's group is not the pool's: its leader exited, what it left is the operator's.
    expect(killedGroups).toEqual([4242]);
    expect(j.lines).toEqual([]);
  });

  test("a worker killed at its deadline (its cancel unanswered) takes its commands' groups with it", async () => {
    const { clock, spawned, job, killedGroups } = setup(frozen);
    const j = job();
    spawned[0]!.write(group(4242, true));
    j.controller.abort(new Error("timed out"));
    await clock.advance(KILL_AFTER_MS);
    expect(await j.done).toEqual({ ended: "killed by SIGKILL; its post_install_command (process group 4242) killed" });
    expect(killedGroups).toEqual([4242]);
  });

  test("a worker SIGKILL does not end: its commands' groups are killed when it is given up on", async () => {
    const { clock, spawned, job, killedGroups } = setup(frozen);
    const j = job();
    spawned[0]!.write(group(4242, true));
    spawned[0]!.unkillable = true;
    j.controller.abort(new Error("timed out"));
    await clock.advance(KILL_AFTER_MS + ABANDON_AFTER_KILL_MS);
    expect(await j.done).toEqual({ stuck: spawned[0]!.pid });
    expect(killedGroups).toEqual([4242]);
  });

  test("killAll (the daemon out of time) kills the workers' command groups too", async () => {
    const { spawned, job, pool, killedGroups } = setup(holds);
    void job();
    spawned[0]!.write(group(4242, true));
    await Bun.sleep(0);
    expect(pool.killAll()).toEqual([spawned[0]!.pid]);
    expect(killedGroups).toEqual([4242]);
  });

  test("a group line naming a group the daemon must never kill (1, its own) is refused and the worker replaced", async () => {
    const { spawned, job, killedGroups } = setup(holds);
    const j = job();
    spawned[0]!.write(group(1, true));
    spawned[0]!.write(group(process.pid, true));
    spawned[0]!.write(outcome());
    expect(isOutcome(await j.done)).toBe(true);
    expect(spawned[0]!.closed).toBe(true);
    await spawned[0]!.exited;
    expect(killedGroups).toEqual([]);
  });

  test("an idle worker that does not exit when retired is killed", async () => {
    const { clock, spawned, job, pool } = setup(answers());
    await job().done;
    // Closing its stdin does nothing to a stopped process.
    spawned[0]!.close = function () {
      this.closed = true;
    };
    pool.recycle(["ca internal"]);
    await clock.advance(KILL_AFTER_MS);
    expect(await spawned[0]!.exited).toBe("killed by SIGKILL");
  });

  test("a worker whose outcome said a write is still in flight is given LINGER_KILL_MS to exit once retired, not KILL_AFTER_MS", async () => {
    const { clock, spawned, job, pool } = setup((w, msg) => {
      if (msg.renew) w.write({ ...outcome(), lingering: true });
    });
    await job().done;
    // Waiting for the write: it exits when that has ended and its challenge is removed.
    spawned[0]!.close = function () {
      this.closed = true;
    };
    let how: string | undefined;
    void spawned[0]!.exited.then((h) => (how = h));
    pool.recycle(["ca internal"]);
    await clock.advance(KILL_AFTER_MS);
    expect(how).toBeUndefined();
    await clock.advance(LINGER_KILL_MS - KILL_AFTER_MS);
    expect(await spawned[0]!.exited).toBe("killed by SIGKILL");
  });
});

test("close() retires every worker and waits until they exit", async () => {
  const { pool, spawned, job } = setup(answers());
  await Promise.all([job().done, job().done]);
  await pool.close();
  expect(spawned.every((w) => w.closed)).toBe(true);
});
