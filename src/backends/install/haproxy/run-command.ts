/**
 * @module The one place the haproxy target runs a command (`reload_command`,
 * `post_install_command`): argv without a shell, a timeout, output captured.
 * Local until the shared runner (`src/backends/install/command.ts`) lands; then this file
 * goes and its two callers in `haproxy.ts` call that runner instead.
 */
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";

/** How much of a command's output goes into a message. */
const OUTPUT_MAX = 2000;

/** Runs `argv`; resolves when it exits 0, else rejects with RotaError("command_failed") naming it, with its output. */
export async function runCommand(argv: string[], opts: { timeoutMs: number; clock: Clock; env?: Record<string, string> }): Promise<void> {
  const shown = argv.join(" ");
  let proc;
  try {
    proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...opts.env } });
  } catch (err) {
    throw new RotaError("command_failed", `${shown}: cannot start: ${(err as Error).message}`, { cause: err });
  }
  let timedOut = false;
  const cancel = opts.clock.setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, opts.timeoutMs);
  try {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const output = `${out}${err}`.trim();
    const tail = output === "" ? "" : `: ${output.length > OUTPUT_MAX ? `…${output.slice(-OUTPUT_MAX)}` : output}`;
    if (timedOut) throw new RotaError("command_failed", `${shown}: killed after ${opts.timeoutMs / 1000} s${tail}`);
    if (code !== 0) throw new RotaError("command_failed", `${shown}: exited ${code}${tail}`);
  } finally {
    cancel();
  }
}
