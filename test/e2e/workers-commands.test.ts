/**
 * End to end on the local CA: a renewal worker that dies while a `post_install_command` runs
 * takes the command, and whatever it started, with it. The command runs in its own process
 * group; a worker SIGKILLed cannot kill it itself, so the daemon does, and only that worker's.
 * The renewal row says what happened, install step included. (The same at the renewal
 * deadline: worker-pool.test.ts; the step open at the deadline in the row: hangs.test.ts.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, serialOf } from "./helpers.ts";

let dir: string;
let daemon: Daemon;
let socket: string;
/** Every hook pid seen, killed at the end whatever the test found. */
const hooks: number[] = [];

beforeAll(() => {
  dir = makeTempDir("rota-workers-cmd-");
  socket = join(dir, "rota.sock");
  const certs = ["k0", "s0"].map((id) => `[[cert]]\nid = "${id}"\ndomains = ["${id}.home.arpa"]\nca = "internal"\ninstall = "files"\n`).join("\n");
  // The hook's shell execs sleep: the pid it wrote is the sleeping process, leader of its group.
  const hook = JSON.stringify(["/bin/sh", "-c", `echo $$ > ${dir}/hook-$ROTA_CERT_ID.pid; exec sleep 120`]);
  writeFileSync(
    join(dir, "rota.toml"),
    `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"\nmax_concurrent_renewals = 4\nrenewal_timeout_seconds = 60\n\n[[ca]]\nname = "internal"\ntype = "local"\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "certs"\npost_install_command = ${hook}\ncommand_timeout_seconds = 600\n\n${certs}`,
  );
  daemon = startDaemon(join(dir, "rota.toml"));
});

afterAll(async () => {
  await daemon?.stop();
  for (const pid of hooks) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone, as it should be.
    }
  }
  removeTempDir(dir);
});

/** `/proc/<pid>/stat` fields after the command name: state, ppid. Null once the process is gone. */
function stat(pid: number): { state: string; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid] = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** Running, not a zombie waiting for whoever reaps it. */
const running = (pid: number) => {
  const s = stat(pid);
  return s !== null && s.state !== "Z";
};

/** The cert's hook, once it runs: its pid and its parent, the worker running the renewal. */
async function hookOf(certId: string): Promise<{ hook: number; worker: number }> {
  return waitFor(
    () => {
      let hook: number;
      try {
        hook = Number(readFileSync(join(dir, `hook-${certId}.pid`), "utf8").trim());
      } catch {
        return null;
      }
      if (!hook) return null;
      if (!hooks.includes(hook)) hooks.push(hook);
      const s = stat(hook);
      return s ? { hook, worker: s.ppid } : null;
    },
    30_000,
    20,
    `${certId}'s post_install_command to run`,
  );
}

async function endedRow(certId: string, timeoutMs: number) {
  return waitFor(async () => (await audit(socket, certId)).find((r) => r.status !== "running") ?? null, timeoutMs, 100, `${certId}'s renewal to end`);
}

test("a worker SIGKILLed during its post_install_command: the command's group is killed with it, and the row says so, install step included", async () => {
  const [k, s] = await Promise.all([hookOf("k0"), hookOf("s0")]);
  expect(k.worker).not.toBe(s.worker);
  process.kill(k.worker, "SIGKILL");

  await waitFor(() => !running(k.hook) || null, 10_000, 20, "the hook of the killed worker to be killed");
  const row = await endedRow("k0", 10_000);
  const how = `killed by SIGKILL; its post_install_command (process group ${k.hook}) killed`;
  expect(row.status).toBe("failed");
  expect(row.error).toBe(`pipeline: the renewal process ended without an outcome (${how})`);
  expect(row.events.map((e) => `${e.step} ${e.status}`).slice(-2)).toEqual(["persist ok", "install failed"]);
  expect(row.events.at(-1)!.message).toBe(
    `the renewal process ended during this step (${how}); not known whether files holds the new certificate: the next look reads back what it serves`,
  );
  // The files were swapped before the hook ran: what the row leaves open is true.
  expect(serialOf(join(dir, "certs", "k0", "cert.pem"))).toMatch(/^[0-9a-f]+$/);
  expect(daemon.output()).toContain(`its post_install_command (process group ${k.hook}) killed`);
  // The other worker's hook runs on: it is not the dead worker's.
  expect(running(s.hook)).toBe(true);
  expect(running(s.worker)).toBe(true);
}, 60_000);
