/**
 * @module The daemon's side of a cluster-mode renewal on a real worker (`bun src/main.ts
 * __renewal`): the request carries the fence, the issued write reaches the store with it,
 * and a refusal comes back to the worker before anything is installed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { killGroup } from "../backends/install/command.ts";
import type { Fence } from "../cluster/types.ts";
import { RotaError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { systemClock } from "../clock.ts";
import { childExecutor, executablePath, spawnWorker } from "./child.ts";
import type { Execute, ExecuteRequest } from "./execute.ts";
import type { PipelineStore } from "./renewer.ts";
import { WorkerPool } from "./worker-pool.ts";

const FENCE: Fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let dir: string;
let sqlite: SqliteAuditStore;
let bus: EventBus;
let pool: WorkerPool;
/** What the store does with a fenced write; every fence it was handed. */
let refuse: boolean;
const fences: Fence[] = [];
let execute: Execute;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-child-"));
  sqlite = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, sqlite);
  const store: PipelineStore = {
    latestIssued: (id) => sqlite.latestIssued(id),
    saveInstalled: (r) => sqlite.saveInstalled(r),
    async saveIssued(cert, fence) {
      if (!fence) return sqlite.saveIssued(cert);
      fences.push(fence);
      if (refuse) throw new RotaError("fenced", `cluster: not stored: ${fence.nodeId} no longer holds the lease at term ${fence.term}`, { noRetry: true });
      return sqlite.saveIssued(cert);
    },
  };
  const config = testConfig(dir, [
    { id: "www", domains: ["www.home.arpa"], ca: "internal", dcv: undefined, install: ["files"], keyPath: join(dir, "keys", "www.key"), keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined },
  ]);
  config.cas = [{ name: "internal", type: "local", options: { validityDays: 30 } }];
  config.installs = [{ name: "files", type: "filesystem", options: { dir: join(dir, "certs") }, verifyServed: null }];
  const command = [process.execPath, join(import.meta.dir, "..", "main.ts")];
  pool = new WorkerPool({ spawn: () => spawnWorker({ stateDir: dir, withheldEnv: [] }, command), clock: systemClock, log: silent, killGroup }, { idleMs: 60_000, maxRenewals: 100, maxRssBytes: 2 ** 31, maxIdle: 1 });
  execute = childExecutor(config, { bus, store, log: silent, pool, clock: systemClock });
});

afterAll(async () => {
  await pool.close();
  await bus.drain();
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
async function renew(over: Partial<ExecuteRequest> = {}) {
  const renewalId = `r${++seq}`;
  bus.emit({ type: "renewal.started", renewalId, certId: "www", trigger: "manual", installOnly: false, reason: null, at: new Date() });
  const outcome = await execute({ certId: "www", renewalId, trigger: "manual", signal: new AbortController().signal, ...over });
  await bus.drain();
  return { outcome, steps: (await sqlite.getRenewal(renewalId))!.events.map((e) => `${e.step} ${e.status}`) };
}

const served = () => readFileSync(join(dir, "certs", "www", "cert.pem"), "utf8");

test("a cluster run: the fence goes to the store; refused, nothing is stored or installed and the outcome carries fenced; taken, it installs", async () => {
  // Off the cluster first: the key and the local CA's root a cluster run only reads.
  expect((await renew()).outcome.ok).toBe(true);
  const before = served();
  const stored = (await sqlite.latestIssued("www"))!.serial;

  refuse = true;
  const refused = await renew({ cluster: { fence: FENCE } });
  expect(refused.outcome).toMatchObject({ ok: false, interrupted: false, error: { code: "fenced", message: "cluster: not stored: nas-1 no longer holds the lease at term 7" } });
  expect(refused.steps.slice(-2)).toEqual(["verify ok", "persist failed"]);
  expect(fences).toEqual([FENCE]);
  expect((await sqlite.latestIssued("www"))!.serial).toBe(stored);
  expect(served()).toBe(before);

  refuse = false;
  const taken = await renew({ cluster: { fence: FENCE } });
  expect(taken.outcome.ok).toBe(true);
  expect(taken.steps.slice(-2)).toEqual(["persist ok", "install ok"]);
  expect(fences).toEqual([FENCE, FENCE]);
  expect(served()).not.toBe(before);
}, 60_000);

test("a worker starts with the JIT off (WORKER_JSC_ENV); a command its renewal runs gets the daemon's environment, without it", async () => {
  const envFile = join(dir, "hook.env");
  const worker = spawnWorker({ stateDir: dir, withheldEnv: [] }, [process.execPath, join(import.meta.dir, "..", "main.ts")]);
  try {
    const renew = {
      cert: { id: "hook", domains: ["hook.home.arpa"], ca: "internal", install: ["files"], keyPath: join(dir, "keys", "hook.key"), keyType: "ecdsa-p256", keyRotation: "never" },
      ca: { name: "internal", type: "local", options: { validityDays: 30 } },
      dcv: null,
      installs: [{ name: "files", type: "filesystem", options: { dir: join(dir, "certs"), postInstall: { key: "post_install_command", argv: ["sh", "-c", `env > ${envFile}`], timeoutSeconds: 30 } } }],
      renewalId: "r-hook",
      trigger: "manual",
      latestIssued: null,
    };
    worker.send(JSON.stringify({ renew }));
    let outcome: unknown;
    for await (const line of worker.lines) {
      const msg = JSON.parse(line);
      // The daemon's answer to the issued certificate: nothing is installed before it.
      if (msg.store === "issued") worker.send(JSON.stringify({ stored: { renewalId: msg.issued.renewalId, serial: msg.issued.serial, error: null } }));
      if ("outcome" in msg) {
        outcome = msg.outcome;
        break;
      }
    }
    expect(outcome).toMatchObject({ ok: true });
    // Read once it has answered: right after the spawn the process may not have exec'd yet.
    expect(readFileSync(`/proc/${worker.pid}/environ`, "utf8").split("\0")).toContain("BUN_JSC_useJIT=0");
    const hookEnv = readFileSync(envFile, "utf8");
    expect(hookEnv).toContain("ROTA_CERT_ID=hook");
    expect(hookEnv).not.toContain("BUN_JSC_useJIT");
  } finally {
    worker.close();
    await worker.exited;
  }
}, 60_000);

test("a binary replaced by a rename under the daemon: the worker is started from the file now at its path, not the deleted one", () => {
  expect(executablePath("/opt/rota/bin/rota (deleted)")).toBe("/opt/rota/bin/rota");
  expect(executablePath("/opt/rota/bin/rota")).toBe("/opt/rota/bin/rota");
});
