/**
 * @module The renewal child as the daemon starts it (`bun src/main.ts __renewal`, as
 * pipeline/child.ts does from source): a request it cannot read is answered with one
 * outcome line, never a stack trace. Its writes wait for a full pipe without spinning.
 */
import { expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHILD_COMMAND } from "./child-command.ts";
import { writeAll } from "./child-main.ts";

async function runChild(stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "main.ts"), CHILD_COMMAND], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  child.stdin.write(stdin);
  child.stdin.end();
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

test.each([
  ["not JSON", "garbage\n", "pipeline: bad renewal request: not JSON: JSON Parse error: Unexpected identifier \"garbage\""],
  ["JSON without the fields", "{}\n", "pipeline: bad renewal request: missing or invalid config.daemon.stateDir, certId, renewalId, trigger, latestIssued"],
])("a request that is %s gets one bad_request outcome line and exit 0", async (_, stdin, message) => {
  const { code, stdout, stderr } = await runChild(stdin);
  expect(stdout.split("\n")).toEqual([JSON.stringify({ outcome: { ok: false, interrupted: false, error: { message, code: "bad_request", noRetry: false } } }), ""]);
  expect(stderr).not.toMatch(/\n\s+at |Bun v\d|Error:/);
  expect(code).toBe(0);
});

test("no request at all: not started by a daemon, exit 2 and nothing on stdout", async () => {
  const { code, stdout } = await runChild("");
  expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
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
