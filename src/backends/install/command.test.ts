/** @module The install command runner: output, failures word for word, no shell, and kills on timeout and abort that reach what the command started. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeError } from "../../errors.ts";
import { readSecret } from "../../config/secret.ts";
import { commandEnv, onCommandGroups, runCommand, shown, type Command, type CommandGroup } from "./command.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-command-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const signal = new AbortController().signal;
const cmd = (argv: string[], timeoutSeconds = 10): Command => ({ key: "test_command", argv, timeoutSeconds });
const sh = (script: string, timeoutSeconds?: number) => cmd(["/bin/sh", "-c", script], timeoutSeconds);
const failure = (c: Command, s = signal) => runCommand("nginx web", c, { withheld: [], signal: s }).then(() => null, (e: unknown) => e);

/** Running, not a zombie: a killed orphan may wait a while for whoever reaps it. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** SIGKILL is delivered asynchronously: on a loaded machine the process may take a moment to die. */
async function dies(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && alive(pid); i++) await Bun.sleep(10);
  return !alive(pid);
}

describe("runCommand", () => {
  test("listeners hear of the command's own process group as it starts (while it runs) and once its leader exited", async () => {
    const heard: Array<CommandGroup & { alive: boolean }> = [];
    const stop = onCommandGroups((g) => heard.push({ ...g, alive: alive(g.pgid) }));
    try {
      const pid = Number(await runCommand("nginx web", sh("echo $$"), { withheld: [], signal }));
      expect(heard).toEqual([
        { pgid: pid, key: "test_command", running: true, alive: true },
        { pgid: pid, key: "test_command", running: false, alive: false },
      ]);
      // Its own group, which the daemon can kill whole.
      expect(Number(await runCommand("nginx web", sh("ps -o pgid= -p $$"), { withheld: [], signal }))).toBe(heard[2]!.pgid);
    } finally {
      stop();
    }
  });

  test("exit 0: stdout then stderr, each trimmed", async () => {
    expect(await runCommand("nginx web", sh("echo '  out  '; echo err >&2"), { withheld: [], signal })).toBe("out\nerr");
  });

  test("argv reaches the program as given: no shell expands it", async () => {
    expect(await runCommand("nginx web", cmd(["/bin/echo", "$HOME", "a b", "*"]), { withheld: [], signal })).toBe("$HOME a b *");
  });

  test("env is merged over the daemon's", async () => {
    const out = await runCommand("nginx web", sh('echo "$ROTA_CERT_ID $PATH"'), { withheld: [], signal, env: { ROTA_CERT_ID: "www" } });
    expect(out).toBe(`www ${process.env.PATH}`);
  });

  test("a withheld variable is not in the command's environment; the rest is", async () => {
    process.env.ROTA_TEST_CMD_TOKEN = "CANARY-cmd-1187";
    try {
      const out = await runCommand("nginx web", sh('env; echo "PATH is $PATH"'), { withheld: ["ROTA_TEST_CMD_TOKEN"], signal, env: { ROTA_CERT_ID: "www" } });
      expect(out).not.toContain("ROTA_TEST_CMD_TOKEN");
      expect(out).not.toContain("CANARY-cmd-1187");
      expect(out).toContain("ROTA_CERT_ID=www");
      expect(out).toContain(`PATH is ${process.env.PATH}`);
    } finally {
      delete process.env.ROTA_TEST_CMD_TOKEN;
    }
  });

  test("output is cut of a withheld variable's value and of every secret this process read, on success and failure", async () => {
    process.env.ROTA_TEST_CMD_TOKEN = "CANARY-cmd-2291";
    const file = join(dir, "secret");
    await Bun.write(file, "CANARY-file-3307\n");
    readSecret({ from: "file", path: file });
    try {
      const print = "echo CANARY-cmd-2291 CANARY-file-3307";
      expect(await runCommand("nginx web", sh(print), { withheld: ["ROTA_TEST_CMD_TOKEN"], signal })).toBe("[redacted] [redacted]");
      expect(describeError(await failure(sh(`${print}; exit 3`)))).toEndWith("exited with 3: CANARY-cmd-2291 [redacted]");
      const err = await runCommand("nginx web", sh(`${print}; exit 3`), { withheld: ["ROTA_TEST_CMD_TOKEN"], signal }).catch((e: unknown) => e);
      expect(describeError(err)).toEndWith("exited with 3: [redacted] [redacted]");
    } finally {
      delete process.env.ROTA_TEST_CMD_TOKEN;
    }
  });

  test("a private key the command prints (cat privkey.pem) never reaches the message", async () => {
    const key = join(dir, "privkey.pem");
    await Bun.write(key, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n");
    const err = await failure(sh(`echo hook; cat ${key}; exit 1`));
    expect(describeError(err)).toEndWith("exited with 1: hook\n[private key redacted]");
    expect(describeError(err)).not.toContain("MIGHAgEA");
  });

  test("a non-zero exit names the target, the key, the argv and the output", async () => {
    const err = await failure(sh("echo 'nginx: [emerg] bad thing' >&2; exit 1"));
    expect(err).toMatchObject({ code: "command_failed" });
    expect(describeError(err)).toBe('nginx web: test_command ["/bin/sh","-c","echo \'nginx: [emerg] bad thing\' >&2; exit 1"] exited with 1: nginx: [emerg] bad thing');
  });

  test("no output says so", async () => {
    expect(describeError(await failure(cmd(["false"])))).toBe('nginx web: test_command ["false"] exited with 1 (no output)');
  });

  test("a program that cannot start", async () => {
    const err = await failure(cmd([join(dir, "missing")]));
    expect(err).toMatchObject({ code: "command_failed" });
    expect((err as Error).message).toStartWith(`nginx web: test_command ["${join(dir, "missing")}"] could not start: `);
  });

  test("a long output keeps its start and its end, where a tool says why it failed, and counts what was cut between", async () => {
    // 100,000 x's on stdout, far past what is kept of a stream; the reason last, on stderr.
    const err = await failure(sh("echo 'testing /etc/nginx/nginx.conf'; head -c 100000 /dev/zero | tr '\\0' x; echo; echo 'nginx: [emerg] cannot load certificate key' >&2; exit 1"));
    const message = describeError(err);
    const prefix = `nginx web: test_command ${JSON.stringify(["/bin/sh", "-c", "echo 'testing /etc/nginx/nginx.conf'; head -c 100000 /dev/zero | tr '\\0' x; echo; echo 'nginx: [emerg] cannot load certificate key' >&2; exit 1"])} exited with 1: `;
    const reason = "nginx: [emerg] cannot load certificate key";
    const output = `testing /etc/nginx/nginx.conf\n${"x".repeat(100_000)}\n${reason}`;
    expect(message).toBe(`${prefix}${output.slice(0, 600)} … ${output.length - 2000} characters cut … ${output.slice(-1400)}`);
    expect(message).toEndWith(`x\n${reason}`);
  });

  test("a cut counts characters, not bytes, and never splits one", async () => {
    // 2- and 3-byte characters: the ends kept of the stream are cut inside a character of the second.
    const err = await failure(sh("printf 'é%.0s' $(seq 1 20000); exit 2"));
    const output = "é".repeat(20_000);
    expect(describeError(err)).toEndWith(`exited with 2: ${output.slice(0, 600)} … ${20_000 - 2000} characters cut … ${output.slice(-1400)}`);
    const wide = await failure(sh("printf '€%.0s' $(seq 1 20000); exit 2"));
    expect(describeError(wide)).toEndWith(`exited with 2: ${"€".repeat(600)} … 18000 characters cut … ${"€".repeat(1400)}`);
  });

  test("shown: whole up to 2000 characters, else the first 600 and the last 1400", () => {
    expect(shown("")).toBe(" (no output)");
    expect(shown("y".repeat(2000))).toBe(`: ${"y".repeat(2000)}`);
    const long = `${"a".repeat(600)}${"b".repeat(5)}${"c".repeat(1400)}`;
    expect(shown(long)).toBe(`: ${"a".repeat(600)} … 5 characters cut … ${"c".repeat(1400)}`);
    expect(shown("y".repeat(2000), 7)).toBe(`: ${"y".repeat(600)} … 7 characters cut … ${"y".repeat(1400)}`);
  });

  test("at its timeout the command and what it started are killed", async () => {
    const pidFile = join(dir, "timeout.pid");
    const err = await failure(sh(`sleep 60 & echo $! > ${pidFile}; echo started; wait`, 0.3));
    expect(err).toMatchObject({ code: "command_failed" });
    expect((err as Error).message).toBe(`nginx web: test_command ["/bin/sh","-c","sleep 60 & echo $! > ${pidFile}; echo started; wait"] did not finish within 0.3 s: started`);
    expect(await dies(Number(readFileSync(pidFile, "utf8")))).toBe(true);
  });

  test("an abort kills the group and rejects as aborted", async () => {
    const pidFile = join(dir, "abort.pid");
    const ac = new AbortController();
    const pending = failure(sh(`sleep 60 & echo $! > ${pidFile}; wait`), ac.signal);
    // The background child is started once its pid is written; only then is there something to kill.
    while (readFileSafe(pidFile) === "") await Bun.sleep(10);
    ac.abort();
    expect(await pending).toMatchObject({ code: "aborted" });
    expect(await dies(Number(readFileSafe(pidFile)))).toBe(true);
  });

  test("an already aborted signal runs nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    const marker = join(dir, "never");
    expect(await failure(sh(`touch ${marker}`), ac.signal)).toMatchObject({ code: "aborted" });
    expect(readFileSafe(marker)).toBe("");
  });

  test("a child left in the background holding the pipes does not hold the result", async () => {
    const pidFile = join(dir, "bg.pid");
    expect(await runCommand("nginx web", sh(`sleep 60 & echo $! > ${pidFile}; echo done`), { withheld: [], signal })).toBe("done");
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

describe("commandEnv", () => {
  test("the base without the withheld names, then the extra over it; unset values are dropped", () => {
    const base = { PATH: "/usr/bin", HOME: "/root", CF_API_TOKEN: "t0k3n", SMTP_PASSWORD: "pw", GONE: undefined };
    expect(commandEnv(base, ["CF_API_TOKEN", "SMTP_PASSWORD", "NOT_SET"], { ROTA_CERT_ID: "www" })).toEqual({ PATH: "/usr/bin", HOME: "/root", ROTA_CERT_ID: "www" });
    expect(commandEnv(base, [])).toEqual({ PATH: "/usr/bin", HOME: "/root", CF_API_TOKEN: "t0k3n", SMTP_PASSWORD: "pw" });
  });
});
