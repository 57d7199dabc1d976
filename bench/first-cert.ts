/**
 * @module Side-by-side benchmark of rota against lego and certbot on one loopback
 * pebble + nginx: time to a first 2-name certificate by HTTP-01 through the nginx
 * webroot, cold start of `rota version` vs `lego --version` (hyperfine), and the idle
 * RSS of the rota daemon after its first issuance. A report, not a test: it exits 0
 * whether or not the targets are met, and 1 only when a measurement itself failed.
 *
 * Usage: bun bench/first-cert.ts [--runs N] [--rota PATH] [--k8s]
 *   --runs N     issuances per tool (default 5)
 *   --rota PATH  the rota binary to measure (default dist/rota), e.g. an experimental build
 *   --k8s        also measure idle RSS with a k8s-secret target on the fake API server
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  killLive,
  median,
  readLog,
  spawnLogged,
  stopProcess,
  summarize,
  tail,
  timeOneShot,
  timeRota,
  waitForCert,
  type Issuance,
  type RotaIssuance,
  type RotaRun,
} from "./acme.ts";
import {
  makeTempDir,
  removeTempDir,
  ROTA_BIN as DEFAULT_ROTA_BIN,
  startNginx,
  startPebble,
  type Nginx,
  type Pebble,
} from "../test/harness/index.ts";
import { startFakeKube, type FakeKube } from "../test/fakes/kube-apiserver.ts";

/** How long the daemon idles after its first certificate before RSS is read. */
const IDLE_WAIT_MS = 3_000;
const EMAIL = "bench@example.org";

/** The binary under test; set once from --rota before anything runs. */
let ROTA_BIN = DEFAULT_ROTA_BIN;

const TARGETS = {
  /** rota's first-cert median must be under this fraction of lego's and certbot's. */
  firstCertFraction: 0.5,
  /** `rota version` mean within this factor of `lego --version`. */
  coldStartFactor: 2,
  /** Daemon RSS after the first issuance, MiB. */
  idleRssMiB: 64,
} as const;

let scratchDir: string | undefined;

process.on("exit", () => {
  if (scratchDir) {
    try {
      removeTempDir(scratchDir);
    } catch {
      // best effort on the way out
    }
  }
});

// ---------------------------------------------------------------------------
// One shared ACME world.

interface World {
  dir: string;
  pebble: Pebble;
  nginx: Nginx;
  webroot: string;
}

async function startWorld(dir: string): Promise<World> {
  const webroot = join(dir, "webroot");
  mkdirSync(webroot, { mode: 0o755 });
  const nginx = await startNginx({ prefix: join(dir, "nginx"), webroot });
  try {
    const pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: nginx.port });
    return { dir, pebble, nginx, webroot };
  } catch (err) {
    await nginx.stop();
    throw err;
  }
}

/** Two fresh names per tool run, so no tool ever meets another's authorizations. */
function namesFor(tool: string, run: number | string): [string, string] {
  return [`a.${tool}-${run}.bench.test`, `b.${tool}-${run}.bench.test`];
}

// ---------------------------------------------------------------------------
// The three clients.

/** A k8s-secret target for the daemon: the fake API server's kubeconfig. */
interface K8sTarget {
  kubeconfig: string;
}

function startRota(world: World, runDir: string, domains: string[], k8s?: K8sTarget): RotaRun {
  mkdirSync(runDir, { recursive: true });
  const stateDir = join(runDir, "state");
  const certsDir = join(runDir, "certs");
  const socket = join(runDir, "rota.sock");
  const configPath = join(runDir, "rota.toml");
  const q = JSON.stringify;
  writeFileSync(
    configPath,
    [
      "[daemon]",
      `state_dir = ${q(stateDir)}`,
      `socket = ${q(socket)}`,
      "check_interval_seconds = 3600",
      "",
      "[[ca]]",
      'name = "pebble"',
      'type = "acme"',
      `directory_url = ${q(world.pebble.directoryUrl)}`,
      `email = ${q(EMAIL)}`,
      `ca_bundle = ${q(world.pebble.caBundlePath)}`,
      "",
      "[[dcv]]",
      'name = "web"',
      'type = "webroot"',
      `path = ${q(world.webroot)}`,
      "",
      "[[install]]",
      'name = "files"',
      'type = "filesystem"',
      `dir = ${q(certsDir)}`,
      "",
      ...(k8s ? ["[[install]]", 'name = "k8s"', 'type = "k8s-secret"', 'secret_name = "www-tls"', 'namespace = "web"', `kubeconfig = ${q(k8s.kubeconfig)}`, ""] : []),
      "[[cert]]",
      'id = "bench"',
      `domains = ${q(domains)}`,
      'ca = "pebble"',
      'dcv = "web"',
      k8s ? 'install = ["files", "k8s"]' : 'install = "files"',
      'key_type = "ecdsa-p256"',
      "",
    ].join("\n"),
  );
  // Spawned directly (no wrapper), so proc.pid is the daemon itself for /proc reads.
  // Trust comes from ca_bundle alone, as in the end-to-end tests.
  const daemon = spawnLogged([ROTA_BIN, "daemon", "--config", configPath], join(runDir, "rota.log"), {
    NODE_EXTRA_CA_CERTS: undefined,
    SSL_CERT_FILE: undefined,
  });
  return { daemon, certDir: join(certsDir, "bench"), socket, certId: "bench" };
}

function issueWithRota(world: World, runDir: string, domains: string[]): Promise<RotaIssuance> {
  return timeRota(ROTA_BIN, startRota(world, runDir, domains));
}

function issueWithLego(world: World, runDir: string, [a, b]: [string, string]): Promise<Issuance> {
  const path = join(runDir, "lego");
  return timeOneShot(
    "lego",
    [
      "lego", "--server", world.pebble.directoryUrl, "--accept-tos", "--email", EMAIL,
      "--path", path, "--key-type", "ec256", "--domains", a, "--domains", b,
      "--http", "--http.webroot", world.webroot, "run",
    ],
    { LEGO_CA_CERTIFICATES: world.pebble.caBundlePath },
    runDir,
    join(path, "certificates", `${a}.crt`),
  );
}

function issueWithCertbot(world: World, runDir: string, [a, b]: [string, string]): Promise<Issuance> {
  return timeOneShot(
    "certbot",
    [
      "certbot", "certonly", "--non-interactive", "--agree-tos", "-m", EMAIL,
      "--server", world.pebble.directoryUrl,
      "--config-dir", join(runDir, "etc"), "--work-dir", join(runDir, "work"), "--logs-dir", join(runDir, "logs"),
      "--webroot", "-w", world.webroot, "-d", a, "-d", b,
      "--key-type", "ecdsa", "--elliptic-curve", "secp256r1",
    ],
    { REQUESTS_CA_BUNDLE: world.pebble.caBundlePath },
    runDir,
    join(runDir, "etc", "live", a, "fullchain.pem"),
  );
}

// ---------------------------------------------------------------------------
// Cold start and idle memory.

interface HyperfineResult {
  command: string;
  mean: number;
  stddev: number | null;
  min: number;
  max: number;
}

async function coldStart(dir: string): Promise<{ rota: HyperfineResult; lego: HyperfineResult }> {
  const json = join(dir, "hyperfine.json");
  const s = spawnLogged(
    ["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", json, `${ROTA_BIN} version`, "lego --version"],
    join(dir, "hyperfine.log"),
    {},
  );
  const code = await s.proc.exited;
  if (code !== 0) throw new Error(`hyperfine failed (exit ${code}):\n${tail(readLog(s.logPath))}`);
  const { results } = JSON.parse(readFileSync(json, "utf8")) as { results: HyperfineResult[] };
  const [rota, lego] = results;
  if (!rota || !lego) throw new Error(`hyperfine: expected 2 results in ${json}`);
  return { rota, lego };
}

/** kB figure of a `Vm*:` line in /proc/<pid>/status, as MiB. */
function procStatusMiB(pid: number, field: "VmRSS" | "VmHWM" | "RssAnon" | "RssFile"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!m?.[1]) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) / 1024;
}

interface Memory {
  rssMiB: number;
  /** Heap and other private memory. */
  anonMiB: number;
  /** Pages of the executable and other mapped files: shared, reclaimable page cache. */
  fileMiB: number;
  /** VmHWM: the high-water mark, reached during issuance. */
  peakMiB: number;
}

async function idleRss(world: World, runDir: string, k8s?: K8sTarget): Promise<Memory> {
  const run = startRota(world, runDir, namesFor("rota", k8s ? "rss-k8s" : "rss"), k8s);
  try {
    await waitForCert(run);
    await Bun.sleep(IDLE_WAIT_MS);
    const pid = run.daemon.proc.pid;
    if (run.daemon.proc.exitCode !== null) throw new Error(`rota daemon exited during the idle wait:\n${tail(readLog(run.daemon.logPath))}`);
    return {
      rssMiB: procStatusMiB(pid, "VmRSS"),
      anonMiB: procStatusMiB(pid, "RssAnon"),
      fileMiB: procStatusMiB(pid, "RssFile"),
      peakMiB: procStatusMiB(pid, "VmHWM"),
    };
  } finally {
    await stopProcess(run.daemon.proc);
  }
}

// ---------------------------------------------------------------------------
// Statistics and the report.

const fmt = (x: number, digits = 0): string => x.toFixed(digits);
const pad = (s: string, n: number): string => s.padStart(n);
const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
const showRatio = (r: number | undefined): string => (r === undefined ? "n/a" : `${r.toFixed(3)}×`);

function verdict(met: boolean | undefined): string {
  return met === undefined ? "[n/a]" : met ? "[met]" : "[MISSED]";
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "5" }, rota: { type: "string" }, k8s: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log("usage: bun bench/first-cert.ts [--runs N] [--rota PATH] [--k8s]   (see bench/README.md)");
    return 0;
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`bench: --runs must be a positive integer, not ${JSON.stringify(values.runs)}`);
    return 2;
  }
  if (values.rota !== undefined) ROTA_BIN = resolve(values.rota);
  if (!existsSync(ROTA_BIN)) {
    console.error(`bench: ${ROTA_BIN} is missing: run \`bun scripts/build-binary.ts\``);
    return 2;
  }
  const missing = ["lego", "certbot", "hyperfine", "pebble", "pebble-challtestsrv", "nginx"].filter((t) => Bun.which(t) === null);
  if (missing.length > 0) {
    console.error(`bench: not on PATH: ${missing.join(", ")} (scripts/test-deps.sh installs them)`);
    return 2;
  }

  const dir = makeTempDir("rota-bench-");
  scratchDir = dir;
  const failures: string[] = [];
  const times: Record<"rota" | "lego" | "certbot", number[]> = { rota: [], lego: [], certbot: [] };
  const rotaDetails: RotaIssuance[] = [];
  let cold: Awaited<ReturnType<typeof coldStart>> | undefined;
  let rss: Awaited<ReturnType<typeof idleRss>> | undefined;
  let rssK8s: Awaited<ReturnType<typeof idleRss>> | undefined;
  let world: World | undefined;
  let kube: FakeKube | undefined;

  try {
    console.error(`cold start: hyperfine (30 runs, 3 warmup) ...`);
    try {
      cold = await coldStart(dir);
    } catch (err) {
      failures.push(`cold start: ${(err as Error).message}`);
    }

    console.error("starting pebble + challtestsrv + nginx on 127.0.0.1 ...");
    const w = await startWorld(dir);
    world = w;

    // Interleaved (rota, lego, certbot, rota, ...) so drift in machine load hits all alike.
    for (let i = 1; i <= runs; i++) {
      const clients = [
        ["rota", () => issueWithRota(w, join(dir, "runs", `rota-${i}`), namesFor("rota", i))],
        ["lego", () => issueWithLego(w, join(dir, "runs", `lego-${i}`), namesFor("lego", i))],
        ["certbot", () => issueWithCertbot(w, join(dir, "runs", `certbot-${i}`), namesFor("certbot", i))],
      ] as const;
      for (const [tool, issue] of clients) {
        try {
          const r = await issue();
          times[tool].push(r.ms);
          if (tool === "rota") rotaDetails.push(r as RotaIssuance);
          console.error(`  run ${i}/${runs} ${tool.padEnd(7)} ${fmt(r.ms)} ms`);
        } catch (err) {
          failures.push(`${tool} run ${i}: ${(err as Error).message}`);
          console.error(`  run ${i}/${runs} ${tool.padEnd(7)} FAILED`);
        }
      }
    }

    console.error(`idle RSS: one more rota issuance, then ${IDLE_WAIT_MS / 1000} s idle ...`);
    try {
      rss = await idleRss(w, join(dir, "runs", "rota-rss"));
    } catch (err) {
      failures.push(`idle RSS: ${(err as Error).message}`);
    }

    if (values.k8s) {
      console.error(`idle RSS with a k8s-secret target on the fake API server ...`);
      const kubeDir = join(dir, "kube");
      mkdirSync(kubeDir);
      kube = startFakeKube({ dir: kubeDir });
      kube.tokens.add("bench-token");
      const kubeconfig = join(kubeDir, "kubeconfig");
      writeFileSync(kubeconfig, kube.kubeconfig({ user: { token: "bench-token" } }), { mode: 0o600 });
      try {
        rssK8s = await idleRss(w, join(dir, "runs", "rota-rss-k8s"), { kubeconfig });
        if (kube.secret("web", "www-tls") === undefined) throw new Error("the daemon idled, but the Secret was never applied");
      } catch (err) {
        failures.push(`idle RSS with k8s: ${(err as Error).message}`);
      }
    }
  } finally {
    killLive();
    if (world) await Promise.allSettled([world.pebble.stop(), world.nginx.stop()]);
    await kube?.stop();
  }

  // Report.
  const sum = { rota: summarize(times.rota), lego: summarize(times.lego), certbot: summarize(times.certbot) };
  const out: string[] = [];
  out.push("");
  out.push(`rota binary: ${ROTA_BIN}`);
  out.push(`First certificate: 2 names, HTTP-01 via nginx webroot, same pebble, fresh account + names per run (${runs} run(s) each)`);
  out.push(`${"tool".padEnd(9)}${pad("median", 9)}${pad("min", 9)}${pad("max", 9)}  (ms)  ok`);
  for (const tool of ["rota", "lego", "certbot"] as const) {
    const s = sum[tool];
    out.push(
      s
        ? `${tool.padEnd(9)}${pad(fmt(s.median), 9)}${pad(fmt(s.min), 9)}${pad(fmt(s.max), 9)}        ${s.ok}/${runs}`
        : `${tool.padEnd(9)}${pad("-", 9)}${pad("-", 9)}${pad("-", 9)}        0/${runs}`,
    );
  }

  if (rotaDetails.length > 0) {
    out.push("");
    out.push("rota, where the time goes (median ms over runs, from `rota audit --json`):");
    const startup = rotaDetails.map((d) => d.startupMs).filter((x): x is number => x !== undefined);
    if (startup.length > 0) out.push(`  ${"startup".padEnd(15)}${pad(fmt(median(startup)), 7)}  (spawn to renewal start)`);
    const stepNames = [...new Set(rotaDetails.flatMap((d) => Object.keys(d.steps)))];
    for (const step of stepNames) {
      const xs = rotaDetails.map((d) => d.steps[step]).filter((x): x is number => x !== undefined);
      out.push(`  ${step.padEnd(15)}${pad(fmt(median(xs)), 7)}`);
    }
  }

  out.push("");
  out.push("Cold start (hyperfine -N, 3 warmup, 30 runs)");
  if (cold) {
    for (const [label, r] of [["rota version", cold.rota], ["lego --version", cold.lego]] as const) {
      out.push(`  ${label.padEnd(16)} mean ${pad(fmt(r.mean * 1000, 1), 7)} ms  ± ${fmt((r.stddev ?? 0) * 1000, 1)}  (min ${fmt(r.min * 1000, 1)}, max ${fmt(r.max * 1000, 1)})`);
    }
  } else {
    out.push("  (failed)");
  }

  out.push("");
  out.push(
    rss
      ? `rota daemon idle RSS, ${IDLE_WAIT_MS / 1000} s after its first cert (1 cert): ${fmt(rss.rssMiB, 1)} MiB` +
        `  (anon ${fmt(rss.anonMiB, 1)} + file ${fmt(rss.fileMiB, 1)}; peak VmHWM ${fmt(rss.peakMiB, 1)} MiB)`
      : "rota daemon idle RSS: (failed)",
  );
  if (values.k8s) {
    out.push(
      rssK8s
        ? `  with a k8s-secret target too:                      ${fmt(rssK8s.rssMiB, 1)} MiB` +
            `  (anon ${fmt(rssK8s.anonMiB, 1)} + file ${fmt(rssK8s.fileMiB, 1)}; peak VmHWM ${fmt(rssK8s.peakMiB, 1)} MiB)` +
            (rss ? `; ${rssK8s.rssMiB - rss.rssMiB >= 0 ? "+" : ""}${fmt(rssK8s.rssMiB - rss.rssMiB, 1)} MiB` : "")
        : "  with a k8s-secret target too: (failed)",
    );
  }

  const rLego = ratio(sum.rota?.median, sum.lego?.median);
  const rCertbot = ratio(sum.rota?.median, sum.certbot?.median);
  const rCold = cold ? ratio(cold.rota.mean, cold.lego.mean) : undefined;
  out.push("");
  out.push("Ratios");
  out.push(`  rota/lego    first-cert median   ${showRatio(rLego)}`);
  out.push(`  rota/certbot first-cert median   ${showRatio(rCertbot)}`);
  out.push(`  rota version / lego --version    ${showRatio(rCold)}`);

  const f = TARGETS.firstCertFraction;
  out.push("");
  out.push("Targets");
  out.push(`  ${verdict(rLego === undefined ? undefined : rLego < f)} rota first cert < ${f} × lego's`);
  out.push(`  ${verdict(rCertbot === undefined ? undefined : rCertbot < f)} rota first cert < ${f} × certbot's`);
  out.push(`  ${verdict(rCold === undefined ? undefined : rCold <= TARGETS.coldStartFactor)} rota version within ${TARGETS.coldStartFactor}× of lego --version`);
  out.push(`  ${verdict(rss === undefined ? undefined : rss.rssMiB < TARGETS.idleRssMiB)} rota idle RSS < ${TARGETS.idleRssMiB} MiB`);

  if (failures.length > 0) {
    out.push("");
    out.push(`Failed measurements (${failures.length}):`);
    for (const msg of failures) out.push(`  - ${msg.replace(/\n/g, "\n    ")}`);
  }
  console.log(out.join("\n"));

  // Targets are reported, not enforced; a broken measurement is an error.
  return failures.length > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  killLive();
  if (scratchDir) {
    removeTempDir(scratchDir);
    scratchDir = undefined;
  }
}
process.exit(code);
