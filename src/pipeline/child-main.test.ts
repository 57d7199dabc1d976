/**
 * @module The renewal child as the daemon starts it (`bun src/main.ts __renewal`, as
 * pipeline/child.ts does from source): a request it cannot read is answered with one
 * outcome line, never a stack trace.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { CHILD_COMMAND } from "./child-command.ts";

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
