/**
 * @module The renewal worker as the daemon starts it (`bun src/main.ts __renewal`, as
 * pipeline/child.ts does from source): renewals one after another in one process, a line
 * it cannot read answered with one outcome line, never a stack trace. Its writes wait for
 * a full pipe without spinning.
 */
import { expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHILD_COMMAND } from "./child-command.ts";
import { writeAll } from "./child-main.ts";
import { readLines } from "./lines.ts";

async function runChild(stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "main.ts"), CHILD_COMMAND], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  child.stdin.write(stdin);
  child.stdin.end();
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

const hello = (stateDir: string) => `${JSON.stringify({ hello: { stateDir, withheldEnv: [] } })}\n`;

test.each([
  ["not JSON", "garbage\n", "pipeline: bad renewal request: not JSON: JSON Parse error: Unexpected identifier \"garbage\""],
  ["JSON without the fields", '{"renew":{}}\n', "pipeline: bad renewal request: missing or invalid cert, ca, dcv, installs, renewalId, trigger, latestIssued"],
])("a request that is %s gets one bad_request outcome line; end of input, exit 0", async (_, line, message) => {
  const { code, stdout, stderr } = await runChild(hello("/nonexistent") + line);
  const lines = stdout.split("\n").map((l) => (l ? JSON.parse(l) : l));
  expect(lines).toEqual([{ outcome: { ok: false, interrupted: false, error: { message, code: "bad_request", noRetry: false } } }, ""]);
  expect(stderr).not.toMatch(/\n\s+at |Bun v\d|Error:/);
  expect(code).toBe(0);
});

test("no hello: not started by a daemon, exit 2 and nothing on stdout", async () => {
  expect(await runChild("")).toMatchObject({ code: 2, stdout: "" });
  expect(await runChild('{"renew":{}}\n')).toMatchObject({ code: 2, stdout: "" });
});

test("two local-CA renewals run one after another in one worker, each with its steps, writes and outcome", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-worker-"));
  try {
    const request = (id: string) => ({
      renew: {
        cert: { id, domains: [`${id}.home.arpa`], ca: "internal", install: ["files"], keyPath: join(dir, "keys", `${id}.key`), keyType: "ecdsa-p256", keyRotation: "never" },
        ca: { name: "internal", type: "local", options: { validityDays: 30 } },
        dcv: null,
        installs: [{ name: "files", type: "filesystem", options: { dir: join(dir, "certs") } }],
        renewalId: `r-${id}`,
        trigger: "manual",
        latestIssued: null,
      },
    });
    // Its stdin stays open until both outcomes are in: end of input means the daemon is gone.
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "main.ts"), CHILD_COMMAND], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    child.stdin.write(hello(dir) + [request("a"), request("b")].map((r) => `${JSON.stringify(r)}\n`).join(""));
    void child.stdin.flush();
    const lines: any[] = [];
    for await (const line of readLines(child.stdout)) {
      const msg = JSON.parse(line);
      lines.push(msg);
      // The daemon's answer to the issued certificate: nothing is installed before it.
      if (msg.store === "issued") child.stdin.write(`${JSON.stringify({ stored: { renewalId: msg.issued.renewalId, serial: msg.issued.serial, error: null } })}\n`);
      if (lines.filter((l) => "outcome" in l).length === 2) void child.stdin.end();
    }
    expect(await child.exited).toBe(0);
    const outcomes = lines.flatMap((l, i) => ("outcome" in l ? [i] : []));
    expect(outcomes.length).toBe(2);
    expect(lines[outcomes[0]!].outcome).toMatchObject({ ok: true, issued: { certId: "a" } });
    expect(lines[outcomes[1]!].outcome).toMatchObject({ ok: true, issued: { certId: "b" } });
    // Every line of b's comes after a's outcome.
    expect(lines.slice(0, outcomes[0]).every((l) => (l.event ?? l.issued ?? l.installed).renewalId !== "r-b")).toBe(true);
    expect(lines.filter((l) => l.store === "issued").map((l) => l.issued.certId)).toEqual(["a", "b"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the hello's withheldEnv: a post_install_command the worker runs does not inherit them, and gets ROTA_* and PATH", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-worker-env-"));
  try {
    const seen = join(dir, "env");
    const request = {
      renew: {
        cert: { id: "www", domains: ["www.home.arpa"], ca: "internal", install: ["files"], keyPath: join(dir, "keys", "www.key"), keyType: "ecdsa-p256", keyRotation: "never" },
        ca: { name: "internal", type: "local", options: { validityDays: 30 } },
        dcv: null,
        installs: [{ name: "files", type: "filesystem", options: { dir: join(dir, "certs"), postInstall: { key: "post_install_command", argv: ["/bin/sh", "-c", `env > ${seen}`], timeoutSeconds: 10 } } }],
        renewalId: "r-env",
        trigger: "manual",
        latestIssued: null,
      },
    };
    // The variable a `*_env` key of another cert's section names: this worker's request does not show it.
    const env = { ...process.env, OTHER_CERT_TOKEN: "CANARY-worker-6603" };
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "main.ts"), CHILD_COMMAND], { env, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    child.stdin.write(`${JSON.stringify({ hello: { stateDir: dir, withheldEnv: ["OTHER_CERT_TOKEN"] } })}\n${JSON.stringify(request)}\n`);
    void child.stdin.flush();
    for await (const line of readLines(child.stdout)) {
      const parsed = JSON.parse(line);
      if (parsed.store === "issued") child.stdin.write(`${JSON.stringify({ stored: { renewalId: parsed.issued.renewalId, serial: parsed.issued.serial, error: null } })}\n`);
      if (!("outcome" in parsed)) continue;
      expect(parsed.outcome).toMatchObject({ ok: true });
      void child.stdin.end();
    }
    expect(await child.exited).toBe(0);
    const commandEnv = await Bun.file(seen).text();
    expect(commandEnv).not.toContain("OTHER_CERT_TOKEN");
    expect(commandEnv).not.toContain("CANARY-worker-6603");
    expect(commandEnv).toContain("ROTA_CERT_ID=www\n");
    expect(commandEnv).toContain(`PATH=${process.env.PATH}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the issued write waits for the daemon's answer (fenced in cluster mode); refused (fenced, the store away), nothing is installed and the outcome carries the store's error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-worker-cluster-"));
  try {
    const fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
    const request = (renewalId: string, cluster?: object) => ({
      renew: {
        cert: { id: "www", domains: ["www.home.arpa"], ca: "internal", install: ["files"], keyPath: join(dir, "keys", "www.key"), keyType: "ecdsa-p256", keyRotation: "never" },
        ca: { name: "internal", type: "local", options: { validityDays: 30 } },
        dcv: null,
        installs: [{ name: "files", type: "filesystem", options: { dir: join(dir, "certs") } }],
        renewalId,
        trigger: "manual",
        latestIssued: null,
        ...(cluster ? { cluster } : {}),
      },
    });
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "main.ts"), CHILD_COMMAND], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const send = (line: object) => {
      child.stdin.write(`${JSON.stringify(line)}\n`);
      void child.stdin.flush();
    };
    // The first run, off the cluster, makes the key and the local CA's root the cluster runs then only read.
    child.stdin.write(hello(dir));
    send(request("r-setup"));
    const lines: Array<{ line: any; answered: boolean }> = [];
    const answers: Record<string, object> = {
      "r-refused": { message: "cluster: not stored: nas-1 no longer holds the lease at term 7", code: "fenced", noRetry: true },
      "r-outage": { message: "audit: surrealdb at ws://127.0.0.1:1 is not connected", code: "store_unavailable", noRetry: false },
    };
    let answered = false;
    for await (const text of readLines(child.stdout)) {
      const line = JSON.parse(text);
      lines.push({ line, answered });
      const id = line.outcome ? null : (line.event ?? line.issued ?? line.installed)?.renewalId;
      if (line.outcome && lines.filter((l) => l.line.outcome).length === 1) send(request("r-refused", { fence }));
      if (line.outcome && lines.filter((l) => l.line.outcome).length === 2) {
        answered = false;
        send(request("r-stored", { fence }));
      }
      if (line.outcome && lines.filter((l) => l.line.outcome).length === 3) {
        answered = false;
        send(request("r-outage"));
      }
      if (line.outcome && lines.filter((l) => l.line.outcome).length === 4) void child.stdin.end();
      if (line.store === "issued") {
        if (id !== "r-setup" && id !== "r-outage") expect(line.fence).toEqual(fence);
        answered = true;
        send({ stored: { renewalId: id, serial: line.issued.serial, error: answers[id] ?? null } });
      }
    }
    expect(await child.exited).toBe(0);
    const of = (id: string) => lines.filter((l) => (l.line.event ?? l.line.issued)?.renewalId === id);
    // An install record names no renewal: told apart by the serial each run was issued.
    const installs = (id: string) => {
      const serial = of(id).find((l) => l.line.store === "issued")!.line.issued.serial;
      return lines.filter((l) => l.line.store === "installed" && l.line.installed.serial === serial);
    };
    const outcomes = lines.filter((l) => l.line.outcome).map((l) => l.line.outcome);
    expect(outcomes[0]).toMatchObject({ ok: true });
    expect(outcomes[1]).toEqual({ ok: false, interrupted: false, error: { ...answers["r-refused"], message: "cluster: not stored: nas-1 no longer holds the lease at term 7" } });
    expect(outcomes[2]).toMatchObject({ ok: true });
    // Refused: persist failed once the answer came, and no install was tried or recorded.
    const refused = of("r-refused");
    expect(refused.filter((l) => l.line.event?.type === "renewal.step" && l.line.event.step === "persist").map((l) => [l.line.event.status, l.answered])).toEqual([["failed", true]]);
    expect(refused.some((l) => l.line.event?.step === "install")).toBe(false);
    expect(installs("r-refused")).toEqual([]);
    // Stored: persist and install only after the answer.
    const stored = of("r-stored");
    expect(stored.filter((l) => l.line.event?.type === "renewal.step" && ["persist", "install"].includes(l.line.event.step)).map((l) => [l.line.event.step, l.line.event.status, l.answered])).toEqual([
      ["persist", "ok", true],
      ["install", "ok", true],
    ]);
    expect(installs("r-stored").map((l) => l.answered)).toEqual([true]);
    // Off the cluster too: a certificate the store did not take is never installed (issue 16).
    expect(outcomes[3]).toEqual({ ok: false, interrupted: false, error: answers["r-outage"] });
    const outage = of("r-outage");
    expect(outage.filter((l) => l.line.event?.type === "renewal.step" && l.line.event.step === "persist").map((l) => [l.line.event.status, l.answered])).toEqual([["failed", true]]);
    expect(outage.some((l) => l.line.event?.step === "install")).toBe(false);
    expect(installs("r-outage")).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a full non-blocking pipe is waited for without spinning the CPU, and every byte arrives", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-pipe-"));
  try {
    const fifo = join(dir, "pipe");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    // Read and write: opening does not wait for a reader, and writes answer EAGAIN once the pipe is full.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    // A reader that starts late: the writer meets a full pipe for that long.
    const reader = Bun.spawn(["sh", "-c", `sleep 0.3; wc -c < "${fifo}"`], { stdout: "pipe" });
    const text = "x".repeat(1 << 20);
    const cpu = process.cpuUsage();
    const started = performance.now();
    writeAll(text, fd);
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    closeSync(fd);
    expect(Number((await new Response(reader.stdout).text()).trim())).toBe(text.length);
    expect(wallMs).toBeGreaterThan(200);
    expect((used.user + used.system) / 1000).toBeLessThan(wallMs / 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
