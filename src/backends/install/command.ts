/**
 * @module The commands install targets run around a swap (`test_command`, `reload_command`,
 * `post_install_command`): an argv without a shell, under a timeout, its output captured for
 * the step message. One runner for every target type, so each fails the same way.
 * A command gets the daemon's environment without the config's `*_env` secrets, and its output
 * is scrubbed of every secret value this process knows before a message carries it.
 * Each runs in its own process group, announced to `onCommandGroups` listeners while its leader
 * runs: a renewal worker tells the daemon, which kills the groups of a worker that dies
 * (worker-pool.ts), since a SIGKILLed worker can kill nothing itself.
 */
import { redact, secretsRead, withoutPrivateKeys } from "../../config/secret.ts";
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

/**
 * How much of a long output a message carries, in characters: its start (what ran, nginx -t
 * names the file it tests) and more of its end, where a tool that failed usually says why.
 */
const SHOWN_HEAD = 600;
const SHOWN_TAIL = 1400;
/** What is kept of each stream's start and of its end, in bytes (both well over what is shown); the middle is drained and dropped. */
const KEPT_EACH_END = 8 * 1024;
/**
 * After the command exits, how long its output may still take to arrive. A child it left in
 * the background (a daemon it started) can hold the pipes open for ever; it is not waited for.
 */
const DRAIN_MS = 1000;

/** A command's process group (its leader's pid) starting, or its leader having exited (`running` false). */
export interface CommandGroup {
  pgid: number;
  /** The config key the command came from (`post_install_command`). */
  key: string;
  running: boolean;
}

/**
 * Process-wide, as the processes themselves are: every runner of a command reports here
 * whatever backend started it, and nothing is threaded through the backends for it.
 */
const groupListeners = new Set<(group: CommandGroup) => void>();

/** Calls `listener` as each command's group starts and as its leader exits; returns the unsubscribe. */
export function onCommandGroups(listener: (group: CommandGroup) => void): () => void {
  groupListeners.add(listener);
  return () => groupListeners.delete(listener);
}

function announce(group: CommandGroup): void {
  for (const listener of groupListeners) listener(group);
}

/** SIGKILL to every process of group `pgid`; false when none was left. */
export function killGroup(pgid: number): boolean {
  try {
    process.kill(-pgid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

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
    killGroup(proc.pid);
  };
  announce({ pgid: proc.pid, key: cmd.key, running: true });
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
    // What the leader left behind after a clean exit (a daemon it started) is the operator's; only a killed command's group is ours to end.
    announce({ pgid: proc.pid, key: cmd.key, running: false });
  }
  const collected = await drained(streams);
  const output = withoutPrivateKeys(redact(collected.map((c) => c.text.trim()).filter(Boolean).join("\n"), hiddenValues(opts.withheld)));
  const dropped = collected.reduce((n, c) => n + c.dropped, 0);
  if (killedFor === "abort") throw new RotaError("aborted", `${who}: ${showCommand(cmd)} cancelled${shown(output, dropped)}`, { cause: opts.signal.reason });
  if (killedFor === "timeout") throw new RotaError("command_failed", `${who}: ${showCommand(cmd)} did not finish within ${cmd.timeoutSeconds} s${shown(output, dropped)}`);
  if (code !== 0) {
    const how = proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with ${code}`;
    throw new RotaError("command_failed", `${who}: ${showCommand(cmd)} ${how}${shown(output, dropped)}`);
  }
  return output;
}

/**
 * The output as a message carries it: whole when short, else its start and its end around
 * `… N characters cut …`, N counting the `dropped` characters never kept too.
 */
export function shown(output: string, dropped = 0): string {
  if (output === "") return " (no output)";
  const chars = Array.from(output);
  const cut = chars.length + dropped - SHOWN_HEAD - SHOWN_TAIL;
  if (cut <= 0) return `: ${output}`;
  return `: ${chars.slice(0, SHOWN_HEAD).join("")} … ${cut} characters cut … ${chars.slice(-SHOWN_TAIL).join("")}`;
}

interface Collected {
  done: Promise<void>;
  /** What was kept, and how many characters were dropped between its start and its end. */
  result(): { text: string; dropped: number };
  cancel(): void;
}

/** Reads `stream` to its end, keeping `KEPT_EACH_END` bytes of its start and of its end. */
function collect(stream: ReadableStream<Uint8Array>): Collected {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let tail: Uint8Array[] = [];
  let tailBytes = 0;
  let dropped = 0;
  const done = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      let rest = value;
      if (headBytes < KEPT_EACH_END) {
        const take = Math.min(rest.length, KEPT_EACH_END - headBytes);
        head.push(rest.subarray(0, take));
        headBytes += take;
        rest = rest.subarray(take);
      }
      if (rest.length === 0) continue;
      tail.push(rest);
      tailBytes += rest.length;
      // Whole chunks leave the tail once the ones after them hold enough; the final cut is in result().
      while (tail.length > 1 && tailBytes - tail[0]!.length >= KEPT_EACH_END) {
        dropped += characters(tail[0]!);
        tailBytes -= tail[0]!.length;
        tail = tail.slice(1);
      }
    }
  })().catch(() => {});
  return {
    done,
    result() {
      const end = Buffer.concat(tail);
      if (dropped === 0 && end.length <= KEPT_EACH_END) return { text: Buffer.concat([...head, end]).toString("utf8"), dropped: 0 };
      // Both cut where a character starts, so neither decodes with a broken character at the cut.
      const start = Buffer.concat(head);
      const startText = new TextDecoder().decode(start, { stream: true });
      const heldBack = Buffer.byteLength(startText) < start.length ? 1 : 0;
      let from = Math.max(0, end.length - KEPT_EACH_END);
      while (from < end.length && (end[from]! & 0xc0) === 0x80) from++;
      return { text: startText + end.subarray(from).toString("utf8"), dropped: dropped + heldBack + characters(end.subarray(0, from)) };
    },
    cancel: () => void reader.cancel().catch(() => {}),
  };
}

/** How many UTF-8 characters `bytes` holds: each starts with a byte that is not a continuation byte. */
function characters(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if ((b & 0xc0) !== 0x80) n++;
  return n;
}

async function drained(streams: Collected[]): Promise<Array<{ text: string; dropped: number }>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
  await Promise.race([Promise.all(streams.map((s) => s.done)), late]);
  clearTimeout(timer);
  for (const s of streams) s.cancel();
  return streams.map((s) => s.result());
}
