/**
 * @module What the scheduler's in-process tests share: a temp folder, a fake clock, a SQLite
 * audit store fed by the bus, and a runner that runs the real pipeline (local CA, no process
 * per renewal) for the certs made with `cert`. One world per test; `close` undoes it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { CertConfig } from "../config/schema.ts";
import { EventBus } from "../events.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal } from "../pipeline/renewer.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import { Runner } from "../scheduler/runner.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { FakeClock } from "./fake-clock.ts";

export const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

export interface PipelineWorld {
  dir: string;
  clock: FakeClock;
  store: SqliteAuditStore;
  bus: EventBus;
  runner: Runner;
  /**
   * A cert on the local CA ("internal"), renewed by the runner through the real pipeline;
   * `installs` defaults to a filesystem target "files" under `<dir>/installed`.
   */
  cert(id: string, installs?: CertRuntime["installs"], overrides?: Partial<CertConfig>): CertRuntime;
  /** Stops the runner, drains the bus, closes the store and removes the folder (stop the scheduler first). */
  close(): Promise<void>;
}

export function pipelineWorld(prefix: string): PipelineWorld {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const clock = new FakeClock();
  const store = new SqliteAuditStore(join(dir, "rota.db"));
  const bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  const runtimes = new Map<string, CertRuntime>();
  const journal = new ChallengeJournal(dir);
  const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
  const runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
  return {
    dir,
    clock,
    store,
    bus,
    runner,
    cert(id, installs, overrides = {}) {
      const config: CertConfig = {
        id,
        domains: [`${id}.example.com`],
        ca: "internal",
        dcv: undefined,
        install: ["files"],
        keyPath: join(dir, "keys", `${id}.key`),
        keyType: "ecdsa-p256",
        renewThresholdDays: undefined,
        keyRotation: "never",
        ...overrides,
      };
      const runtime: CertRuntime = {
        config,
        ca: createLocalCa("internal", { validityDays: 90, commonName: undefined }, { stateDir: dir, clock }),
        dcv: undefined,
        installs: installs ?? [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
      };
      runtimes.set(id, runtime);
      return runtime;
    },
    async close() {
      await runner.stop();
      await bus.drain();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
