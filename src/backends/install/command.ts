/**
 * @module The commands install targets run around a swap (`test_command`, `reload_command`,
 * `post_install_command`): an argv without a shell, under a timeout, its output captured for
 * the step message. One runner for every target type, so each fails the same way.
 * A command gets the daemon's environment without the config's `*_env` secrets, and its output
 * is scrubbed of every secret value this process knows before a message carries it.
 */
import { redact, secretsRead } from "../../config/secret.ts";
import { RotaError } from "../../errors.ts";

/** One configured command, as `readCommand` (command-config.ts) builds it. */
export interface Command {
  /** The config key it came from (`test_command`), which every message names. */
  key: string;
  /** argv[0] is an absolute path or a name found on PATH; no shell sees it. */
  argv: string[];
  timeoutSeconds: number;
}

export interface RunOptions {
  /** Merged over the daemon's environment. */
  env?: Record<string, string>;
  /**
   * Variables the command must not inherit: every one a `*_env` key of the config names, in
   * any section (`secretEnvNames`). A command is the operator's code, its output goes to the
   * log, the audit store and the CLI: a token in its environment ends up there (`env` in a script).
   */
  withheld: readonly string[];
  /** Kills the command (and anything it started) when it fires. */
  signal: AbortSignal;
}

/** Most of the output a message carries: nginx -t says what is wrong in its first lines. */
const OUTPUT_SHOWN = 2000;
/** What is read of each stream; the rest is drained and dropped. */
const OUTPUT_KEPT = 64 * 1024;
/**
 * After the command exits, how long its output may still take to arrive. A child it left in
 * the background (a daemon it started) can hold the pipes open for ever; it is not waited for.
 */
const DRAIN_MS = 1000;

/** The environment a command runs with: `base` (the daemon's) without the `withheld` names, then `extra` over it. */
export function commandEnv(base: Record<string, string | undefined>, withheld: readonly string[], extra: Record<string, string> = {}): Record<string, string> {
  const hidden = new Set(withheld);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !hidden.has(k)) env[k] = v;
  return { ...env, ...extra };
}

/**
 * What a command's output must not show: the values of the withheld variables (a command can
 * still read them elsewhere, `/proc/<daemon>/environ`) and of every secret this process read.
 */
function hiddenValues(withheld: readonly string[]): string[] {
  return [...withheld.flatMap((name) => process.env[name] ?? []), ...secretsRead()];
}

/** The command as a message shows it: its argv, JSON-quoted. */
function showCommand(cmd: Command): string {
  return `${cmd.key} ${JSON.stringify(cmd.argv)}`;
}

/**
 * Runs `cmd` and resolves with its output (stdout then stderr, trimmed) when it exits 0.
 * Otherwise rejects with a RotaError("command_failed") whose message is
 * `<who>: <key> [argv] <how it failed>: <output>`; a command still running at its timeout,
 * or when `signal` fires, is killed with its whole process group (SIGKILL) first, and a
 * fired signal rejects with RotaError("aborted") instead.
 */
export async function runCommand(who: string, cmd: Command, opts: RunOptions): Promise<string> {
  if (opts.signal.aborted) throw new RotaError("aborted", `${who}: cancelled before ${cmd.key} ran`, { cause: opts.signal.reason });
  let proc;
  try {
    proc = Bun.spawn(cmd.argv, {
      env: commandEnv(process.env, opts.withheld, opts.env),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // Its own process group, so a timeout also reaches what a script started.
      detached: true,
    });
  } catch (err) {
    throw new RotaError("command_failed", `${who}: ${showCommand(cmd)} could not start: ${(err as Error).message}`, { cause: err });
  }
  let killedFor: "timeout" | "abort" | null = null;
  const kill = (why: "timeout" | "abort") => {
    killedFor ??= why;
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => kill("timeout"), cmd.timeoutSeconds * 1000);
  const onAbort = () => kill("abort");
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const streams = [collect(proc.stdout), collect(proc.stderr)];
  let code: number;
  try {
    code = await proc.exited;
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
  }
  const output = redact((await drained(streams)).map((s) => s.trim()).filter(Boolean).join("\n"), hiddenValues(opts.withheld));
  if (killedFor === "abort") throw new RotaError("aborted", `${who}: ${showCommand(cmd)} cancelled${shown(output)}`, { cause: opts.signal.reason });
  if (killedFor === "timeout") throw new RotaError("command_failed", `${who}: ${showCommand(cmd)} did not finish within ${cmd.timeoutSeconds} s${shown(output)}`);
  if (code !== 0) {
    const how = proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with ${code}`;
    throw new RotaError("command_failed", `${who}: ${showCommand(cmd)} ${how}${shown(output)}`);
  }
  return output;
}

function shown(output: string): string {
  if (output === "") return " (no output)";
  const chars = Array.from(output);
  return `: ${chars.length <= OUTPUT_SHOWN ? output : `${chars.slice(0, OUTPUT_SHOWN - 1).join("")}…`}`;
}

interface Collected {
  done: Promise<void>;
  text(): string;
  cancel(): void;
}

function collect(stream: ReadableStream<Uint8Array>): Collected {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  const done = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (kept < OUTPUT_KEPT) {
        chunks.push(value.subarray(0, OUTPUT_KEPT - kept));
        kept += Math.min(value.length, OUTPUT_KEPT - kept);
      }
    }
  })().catch(() => {});
  return {
    done,
    text: () => Buffer.concat(chunks).toString("utf8"),
    cancel: () => void reader.cancel().catch(() => {}),
  };
}

async function drained(streams: Collected[]): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
  await Promise.race([Promise.all(streams.map((s) => s.done)), late]);
  clearTimeout(timer);
  for (const s of streams) s.cancel();
  return streams.map((s) => s.text());
}
