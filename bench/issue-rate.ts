/**
 * @module Quick issuance rate: a cold daemon with N local-CA certs (filesystem target, one
 * name each, `max_concurrent_renewals` 4) from spawn until every `cert.pem` exists, and the
 * CPU the daemon and its renewal processes used (from the kernel's counters for the daemon
 * and its reaped children). Not a timed test: `bun bench/issue-rate.ts [--certs N] [--rota PATH]`.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeTempDir, removeTempDir, ROTA_BIN } from "../test/harness/index.ts";

const { values } = parseArgs({ options: { certs: { type: "string", default: "1000" }, rota: { type: "string" }, concurrent: { type: "string", default: "4" } } });
const n = Number(values.certs);
const bin = values.rota ? resolve(values.rota) : ROTA_BIN;
const dir = makeTempDir("rota-rate-");
const TICKS = 100;

const certs = Array.from({ length: n }, (_, i) => `[[cert]]\nid = "c${i}"\ndomains = ["c${i}.home.arpa"]\nca = "internal"\ninstall = "files"\n`).join("\n");
writeFileSync(
  join(dir, "rota.toml"),
  `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"\nmax_concurrent_renewals = ${values.concurrent}\n\n[[ca]]\nname = "internal"\ntype = "local"\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "certs"\n\n${certs}`,
);

/** The CPU `pid` itself used (utime + stime), in ms. */
function cpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
}

const started = performance.now();
// bash's `times` reports the CPU of the daemon and of every renewal process it reaped.
const shell = Bun.spawn(["bash", "-c", '"$@" >/dev/null 2>&1; times', "_", bin, "daemon", "--config", join(dir, "rota.toml")], { stdout: "pipe", stderr: "ignore" });
let pid = 0;
while (!pid) {
  await Bun.sleep(5);
  pid = Number(Bun.spawnSync(["pgrep", "-P", String(shell.pid)], { stdout: "pipe" }).stdout.toString().trim().split("\n")[0]);
}
try {
  let done = 0;
  while (done < n) {
    await Bun.sleep(20);
    while (done < n && existsSync(join(dir, "certs", `c${done}`, "cert.pem"))) done++;
  }
  const seconds = (performance.now() - started) / 1000;
  const daemonMs = cpu(pid);
  process.kill(pid, "SIGTERM");
  const times = (await new Response(shell.stdout).text()).trim().split("\n")[1]!;
  const totalMs = times.split(/\s+/).map((t) => { const m = t.match(/(\d+)m([\d.]+)s/)!; return (Number(m[1]) * 60 + Number(m[2])) * 1000; }).reduce((a, b) => a + b, 0);
  console.log(`${n} certs in ${seconds.toFixed(1)} s: ${(n / seconds).toFixed(1)} certs/s; CPU per cert: daemon ${(daemonMs / n).toFixed(1)} ms, renewal processes ${((totalMs - daemonMs) / n).toFixed(1)} ms`);
} finally {
  if (pid) Bun.spawnSync(["kill", "-9", String(pid)]);
  removeTempDir(dir);
}
