/**
 * @module DNS-01 benchmark: a wildcard + apex certificate (`*.x.test` + `x.test`, two TXT
 * values on one name) issued by one loopback pebble through each of rota's DNS backends,
 * Cloudflare and Namecheap, against their fakes run in this process, which mirror every TXT
 * value into challtestsrv, the DNS pebble validates against. Side by side: lego with its
 * `exec` DNS provider, a hook script writing to challtestsrv directly. Per backend, the time
 * to the certificate and each pipeline step's share of it from rota's audit trail, the
 * propagate step's above all. A report, not a test: it exits 0 when every run issued, 1 when
 * one failed, 2 for bad usage or a missing tool.
 *
 * Usage: bun bench/dns01.ts [--runs N] [--rota PATH]
 *   --runs N     issuances per client (default 5)
 *   --rota PATH  the rota binary to measure (default dist/rota)
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { STEPS } from "../src/events.ts";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../test/fakes/cloudflare.ts";
import { startFakeNamecheap, type FakeNamecheap } from "../test/fakes/namecheap.ts";
import { freePort, makeTempDir, removeTempDir, ROTA_BIN as DEFAULT_ROTA_BIN, startPebble, type Pebble } from "../test/harness/index.ts";
import { killLive, median, spawnLogged, summarize, timeOneShot, timeRota, type Issuance, type RotaIssuance } from "./acme.ts";

const EMAIL = "bench@example.org";
const CF_TOKEN = "cf-bench-token-0123456789";
const NC_KEY = "nc-bench-key-0123456789";
const NC_USER = "alice";
const NC_CLIENT_IP = "203.0.113.7";

type Backend = "cloudflare" | "namecheap";
const BACKENDS: Backend[] = ["cloudflare", "namecheap"];
/** Each client its own zone, so no run ever reads another's TXT values. */
const ZONE: Record<Backend | "lego", string> = { cloudflare: "cf.test", namecheap: "nc.test", lego: "lego.test" };

let rotaBin = DEFAULT_ROTA_BIN;
let scratchDir: string | undefined;

process.on("exit", () => {
  if (scratchDir) removeTempDir(scratchDir);
});

interface World {
  pebble: Pebble;
  cf: FakeCloudflare;
  nc: FakeNamecheap;
  /** challtestsrv's DNS as `host:port`: rota's propagation resolver, lego's `--dns.resolvers`. */
  resolver: string;
  /** lego's `EXEC_PATH`. */
  hook: string;
}

async function startWorld(dir: string): Promise<World> {
  // Only DNS-01 is solved here: nothing listens on pebble's HTTP-01 port.
  const pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: await freePort() });
  const mirror = { setTxt: pebble.setTxt, clearTxt: pebble.clearTxt };
  const cf = startFakeCloudflare({ token: CF_TOKEN, zones: [{ id: cloudflareId(), name: ZONE.cloudflare }], mirror });
  const nc = startFakeNamecheap({ apiUser: NC_USER, apiKey: NC_KEY, clientIp: NC_CLIENT_IP, mirror });
  // A zone as people keep it: each change reads and writes these back (setHosts replaces the zone).
  nc.zones.set(ZONE.namecheap, {
    emailType: "MX",
    isUsingOurDns: true,
    hosts: [
      { name: "@", type: "A", address: "192.0.2.10", mxPref: "10", ttl: "1800" },
      { name: "@", type: "MX", address: "mx1.mail.example.", mxPref: "5", ttl: "3600" },
      { name: "@", type: "TXT", address: "v=spf1 mx ~all", mxPref: "10", ttl: "1800" },
    ],
  });
  // lego's exec provider runs `EXEC_PATH present|cleanup <fqdn> <value>`. challtestsrv's
  // clear-txt drops every value of the name, which is fine: lego solves one at a time.
  const hook = join(dir, "lego-hook.sh");
  writeFileSync(
    hook,
    [
      "#!/bin/sh",
      "set -e",
      'case "$1" in',
      `  present) curl -fsS -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" "${pebble.challtestsrvUrl}/set-txt" ;;`,
      `  cleanup) curl -fsS -d "{\\"host\\":\\"$2\\"}" "${pebble.challtestsrvUrl}/clear-txt" ;;`,
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(hook, 0o755);
  return { pebble, cf, nc, resolver: `127.0.0.1:${pebble.dnsPort}`, hook };
}

async function stopWorld(world: World): Promise<void> {
  await Promise.allSettled([world.cf.stop(), world.nc.stop(), world.pebble.stop()]);
}

const names = (zone: string): [string, string] => [`*.${zone}`, zone];

// ---------------------------------------------------------------------------
// The clients.

function dcvSection(world: World, backend: Backend): string[] {
  const q = JSON.stringify;
  // As the e2e tests: challtestsrv is the resolver asked (recursion desired) and the one
  // CNAMEs are looked up through; the interval and timeout stay at their defaults.
  const propagation = [`propagation_resolvers = [${q(world.resolver)}]`, `bootstrap_resolver = ${q(world.resolver)}`];
  return backend === "cloudflare"
    ? ["[[dcv]]", 'name = "dns"', 'type = "cloudflare"', `api_url = ${q(world.cf.url)}`, 'api_token_env = "ROTA_BENCH_CF_TOKEN"', ...propagation]
    : [
        "[[dcv]]",
        'name = "dns"',
        'type = "namecheap"',
        `api_url = ${q(world.nc.url)}`,
        `api_user = ${q(NC_USER)}`,
        'api_key_env = "ROTA_BENCH_NC_KEY"',
        `client_ip = ${q(NC_CLIENT_IP)}`,
        ...propagation,
      ];
}

/** A fresh daemon (new state, so a new account) to its first cert. */
function issueWithRota(world: World, backend: Backend, runDir: string): Promise<RotaIssuance> {
  mkdirSync(runDir, { recursive: true });
  const q = JSON.stringify;
  const socket = join(runDir, "rota.sock");
  const certsDir = join(runDir, "certs");
  const config = join(runDir, "rota.toml");
  writeFileSync(
    config,
    [
      "[daemon]",
      `state_dir = ${q(join(runDir, "state"))}`,
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
      ...dcvSection(world, backend),
      "",
      "[[install]]",
      'name = "files"',
      'type = "filesystem"',
      `dir = ${q(certsDir)}`,
      "",
      "[[cert]]",
      'id = "bench"',
      `domains = ${q(names(ZONE[backend]))}`,
      'ca = "pebble"',
      'dcv = "dns"',
      'install = "files"',
      'key_type = "ecdsa-p256"',
      "",
    ].join("\n"),
  );
  // Trust of pebble from ca_bundle alone, as in the end-to-end tests.
  const daemon = spawnLogged([rotaBin, "daemon", "--config", config], join(runDir, "rota.log"), {
    NODE_EXTRA_CA_CERTS: undefined,
    SSL_CERT_FILE: undefined,
    ROTA_BENCH_CF_TOKEN: CF_TOKEN,
    ROTA_BENCH_NC_KEY: NC_KEY,
  });
  return timeRota(rotaBin, { daemon, certDir: join(certsDir, "bench"), socket, certId: "bench" });
}

/**
 * lego's check at its fullest asks the zone's SOA and then its NS on port 53, which
 * challtestsrv does not serve (NOTIMP): `--dns.disable-cp` keeps the first part, a TXT query
 * to the resolver given, and skips that comparison. exec is a "sequential" provider: lego
 * solves one authorization at a time and by default waits EXEC_SEQUENCE_INTERVAL (60 s)
 * between them, a setting rather than a cost of DNS-01, so it is 0 here.
 */
function issueWithLego(world: World, runDir: string): Promise<Issuance> {
  const path = join(runDir, "lego");
  const [wildcard, apex] = names(ZONE.lego);
  return timeOneShot(
    "lego",
    [
      "lego", "--server", world.pebble.directoryUrl, "--accept-tos", "--email", EMAIL,
      "--path", path, "--key-type", "ec256", "--domains", wildcard, "--domains", apex,
      "--dns", "exec", "--dns.resolvers", world.resolver, "--dns.disable-cp", "run",
    ],
    { LEGO_CA_CERTIFICATES: world.pebble.caBundlePath, EXEC_PATH: world.hook, EXEC_SEQUENCE_INTERVAL: "0" },
    runDir,
    join(path, "certificates", `${wildcard.replace("*", "_")}.crt`),
  );
}

// ---------------------------------------------------------------------------
// The report.

const fmt = (x: number): string => x.toFixed(0);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function totals(label: string, ms: number[], runs: number): string {
  const s = summarize(ms);
  const cells = s ? [fmt(s.median), fmt(s.min), fmt(s.max)] : ["-", "-", "-"];
  return `${label.padEnd(17)}${cells.map((c) => c.padStart(9)).join("")}        ${ms.length}/${runs}`;
}

/**
 * Each part of a run: the daemon's startup, its renewal process's start, the steps, and
 * "other" (between steps, and until the files are seen). The audit's times are whole
 * milliseconds: "other" can come out a few below zero.
 */
function parts(r: RotaIssuance): Map<string, number> {
  const out = new Map<string, number>();
  if (r.startupMs !== undefined) out.set("startup", r.startupMs);
  if (r.childStartMs !== undefined) out.set("child start", r.childStartMs);
  for (const step of STEPS) if (r.steps[step] !== undefined) out.set(step, r.steps[step]!);
  out.set("other", r.ms - [...out.values()].reduce((a, b) => a + b, 0));
  return out;
}

/** A part's median ms, and the median of its share of each run's total; undefined when no run has it. */
function partStats(runs: RotaIssuance[], part: string): { ms: number; share: number } | undefined {
  const xs = runs.flatMap((r) => {
    const ms = parts(r).get(part);
    return ms === undefined ? [] : [{ ms, share: ms / r.ms }];
  });
  if (xs.length === 0) return undefined;
  return { ms: median(xs.map((x) => x.ms)), share: median(xs.map((x) => x.share)) };
}

function breakdown(runs: Record<Backend, RotaIssuance[]>): string[] {
  const cell = (b: Backend, part: string): string => {
    const s = partStats(runs[b], part);
    return s ? fmt(s.ms).padStart(10) + pct(s.share).padStart(8) : "-".padStart(10) + "-".padStart(8);
  };
  const present = ["startup", "child start", ...STEPS, "other"].filter((part) => BACKENDS.some((b) => partStats(runs[b], part)));
  return [
    "".padEnd(16) + BACKENDS.map((b) => b.padStart(18)).join(""),
    "step".padEnd(16) + BACKENDS.map(() => "ms".padStart(10) + "share".padStart(8)).join(""),
    ...present.map((part) => part.padEnd(16) + BACKENDS.map((b) => cell(b, part)).join("")),
  ];
}

function propagateShare(runs: Record<Backend, RotaIssuance[]>): string {
  const each = BACKENDS.map((b) => {
    const s = partStats(runs[b], "propagate");
    return `${b} ${s ? `${fmt(s.ms)} ms (${pct(s.share)})` : "-"}`;
  });
  return `propagate's share of the time to the certificate: ${each.join(", ")}`;
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, rota: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log("usage: bun bench/dns01.ts [--runs N] [--rota PATH]   (see bench/README.md)");
    return 0;
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`bench: --runs must be a positive integer, not ${JSON.stringify(values.runs)}`);
    return 2;
  }
  if (values.rota !== undefined) rotaBin = resolve(values.rota);
  if (!existsSync(rotaBin)) {
    console.error(`bench: ${rotaBin} is missing: run \`bun scripts/build-binary.ts\``);
    return 2;
  }
  const missing = ["lego", "pebble", "pebble-challtestsrv", "curl"].filter((t) => Bun.which(t) === null);
  if (missing.length > 0) {
    console.error(`bench: not on PATH: ${missing.join(", ")} (scripts/test-deps.sh installs them)`);
    return 2;
  }

  const dir = makeTempDir("rota-bench-dns01-");
  scratchDir = dir;
  const failures: string[] = [];
  const rota: Record<Backend, RotaIssuance[]> = { cloudflare: [], namecheap: [] };
  const lego: number[] = [];

  console.error("starting pebble + challtestsrv and the Cloudflare and Namecheap fakes on 127.0.0.1 ...");
  const world = await startWorld(dir);
  try {
    // Interleaved so drift in machine load hits every client alike.
    for (let i = 1; i <= runs; i++) {
      // Each issues once, keeps its figures and answers its time.
      const clients: Array<{ label: string; run: () => Promise<number> }> = [
        ...BACKENDS.map((b) => ({
          label: `rota ${b}`,
          run: async () => {
            const r = await issueWithRota(world, b, join(dir, "runs", `${b}-${i}`));
            rota[b].push(r);
            return r.ms;
          },
        })),
        {
          label: "lego exec",
          run: async () => {
            const { ms } = await issueWithLego(world, join(dir, "runs", `lego-${i}`));
            lego.push(ms);
            return ms;
          },
        },
      ];
      for (const { label, run } of clients) {
        try {
          console.error(`  run ${i}/${runs} ${label.padEnd(15)} ${fmt(await run())} ms`);
        } catch (err) {
          failures.push(`${label} run ${i}: ${(err as Error).message}`);
          console.error(`  run ${i}/${runs} ${label.padEnd(15)} FAILED`);
        }
      }
    }
  } finally {
    killLive();
    await stopWorld(world);
  }

  const out = [
    "",
    `rota binary: ${rotaBin}`,
    `DNS-01, wildcard + apex (*.x.test + x.test), same pebble, fresh account per run (${runs} run(s) each)`,
    `${"client".padEnd(17)}${["median", "min", "max"].map((h) => h.padStart(9)).join("")}  (ms)  ok`,
    ...BACKENDS.map((b) => totals(`rota ${b}`, rota[b].map((r) => r.ms), runs)),
    totals("lego exec", lego, runs),
    "",
    "rota, where the time goes (median ms, and the median of each run's share of its total, from `rota audit --json`):",
    ...breakdown(rota),
    "",
    propagateShare(rota),
  ];
  if (failures.length > 0) {
    out.push("", `Failed runs (${failures.length}):`);
    for (const msg of failures) out.push(`  - ${msg.replace(/\n/g, "\n    ")}`);
  }
  console.log(out.join("\n"));
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
