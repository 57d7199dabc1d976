/**
 * @module Dashboard benchmark: the compiled daemon with 1,000 and 10,000 configured
 * local-CA certs (see `daemon.ts`), then `wrk` on the overview `/` (as it opens, and
 * sorted by days left), a cert page `/certs/<id>` and `/healthz` (the floor), signed in as
 * a browser is: with the `rota_session` cookie from `POST /login`. The daemon's RSS is read
 * before the first run and after the last. A report, not a test: it exits 0 whether or not
 * the targets are met, 1 when a measurement failed.
 *
 * The cert page is measured when it answers 200 and reported "not available" otherwise, so
 * the bench runs the same before and after that page lands.
 *
 * Usage: bun bench/dashboard.ts [--certs 1000,10000] [--duration 5] [--daemon-issues 0] [--rota PATH] [--keep]
 */
import { availableParallelism } from "node:os";
import { certId, fmt, issuedHow, printLog, rssMiB, startIssued, stopDaemon, table, TOKEN, wrk, runBench, type Measure } from "./daemon.ts";

/** Issue 7's targets: the overview's p50 at 10,000 certs, and how much the daemon may grow over the runs. */
const TARGET_OVERVIEW_P50_MS = 50;
const TARGET_RSS_GROWTH_MIB = 20;
const SESSION_COOKIE = "rota_session";

interface RouteResult {
  path: string;
  /** Unset: the route did not answer 200 (`status` says what it did). */
  c1?: Measure;
  c16?: Measure;
  status: number;
  /** The daemon's RSS after this route's runs, MiB. */
  rss?: number;
}

interface SizeResult {
  certs: number;
  seedSeconds: number | undefined;
  okSeconds: number;
  rssBefore: number;
  rssAfter: number;
  /** After the overview's c16 run once more: growth that stops here is the heap reaching its working size, growth that goes on is a leak. */
  rssRepeat: number;
  routes: RouteResult[];
}

/** Signs in with the token as the login form does; returns the `Cookie:` header that carries the session. */
async function login(base: string): Promise<string> {
  const res = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN, next: "/" }), redirect: "manual" });
  if (res.status !== 303) throw new Error(`POST /login answered ${res.status}, not 303: ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (!cookie) throw new Error(`POST /login set no ${SESSION_COOKIE} cookie`);
  return `Cookie: ${cookie.split(";")[0]}`;
}

/** The status a route answers with the session, without following a redirect to the login. */
async function probe(url: string, cookie: string): Promise<number> {
  const res = await fetch(url, { headers: { Cookie: cookie.slice("Cookie: ".length) }, redirect: "manual" });
  await res.arrayBuffer();
  return res.status;
}

async function benchSize(certs: number, seconds: number, daemonIssues: boolean): Promise<SizeResult> {
  const { setup, proc, logPath, seedSeconds, okSeconds } = await startIssued("dashboard", certs, daemonIssues);
  try {
    const cookie = await login(setup.base);
    const paths = ["/healthz", "/", "/?sort=days_left", `/certs/${certId(Math.floor(certs / 2))}`];
    const statuses = await Promise.all(paths.map((p) => probe(setup.base + p, cookie)));
    for (const [i, path] of paths.entries()) {
      if (path !== paths.at(-1) && statuses[i] !== 200) throw new Error(`GET ${path} answered ${statuses[i]} with the session`);
    }
    const rssBefore = rssMiB(proc.pid);
    const routes: RouteResult[] = [];
    for (const [i, path] of paths.entries()) {
      const status = statuses[i]!;
      if (status !== 200) {
        console.error(`  ${path}: not available (${status})`);
        routes.push({ path, status });
        continue;
      }
      console.error(`  measuring ${path}`);
      const c1 = await wrk(setup.base + path, 1, seconds, cookie);
      const c16 = await wrk(setup.base + path, 16, seconds, cookie);
      routes.push({ path, status, c1, c16, rss: rssMiB(proc.pid) });
    }
    const rssAfter = rssMiB(proc.pid);
    await wrk(`${setup.base}/`, 16, seconds, cookie);
    return { certs, seedSeconds, okSeconds, rssBefore, rssAfter, rssRepeat: rssMiB(proc.pid), routes };
  } catch (err) {
    printLog(logPath);
    throw err;
  } finally {
    await stopDaemon(proc);
  }
}

function report(results: SizeResult[]): void {
  console.log(`\nTransport: wrk → the daemon's [http] listener on 127.0.0.1, session cookie from POST /login; ${availableParallelism()} CPUs.`);
  console.log("c1: one connection, one request at a time (the latency of a page); c16: 16 connections (throughput).\n");
  const header = ["certs", "route", "c1 req/s", "c1 p50 ms", "c1 p99 ms", "c16 req/s", "c16 p50 ms", "c16 p99 ms", "RSS after MiB"];
  const rows = results.flatMap((r) =>
    r.routes.map((x) => {
      const route = x.path.replace(/c\d{5}$/, "<id>");
      if (!x.c1 || !x.c16) return [String(r.certs), route, `not available (${x.status})`, "", "", "", "", "", ""];
      return [String(r.certs), route, fmt(x.c1.rps), fmt(x.c1.p50), fmt(x.c1.p99), fmt(x.c16.rps), fmt(x.c16.p50), fmt(x.c16.p99), (x.rss ?? NaN).toFixed(0)];
    }),
  );
  console.log(table(header, rows));
  console.log("");
  for (const r of results) {
    const growth = r.rssAfter - r.rssBefore;
    const met = growth <= TARGET_RSS_GROWTH_MIB;
    console.log(`${r.certs} certs: ${issuedHow(r)}`);
    console.log(`  daemon RSS ${r.rssBefore.toFixed(0)} MiB before the runs, ${r.rssAfter.toFixed(0)} MiB after (${growth >= 0 ? "+" : ""}${growth.toFixed(1)}; target within ${TARGET_RSS_GROWTH_MIB}: ${met ? "met" : "MISSED"}); ${r.rssRepeat.toFixed(0)} MiB after / once more`);
  }
  const big = results.find((r) => r.certs === 10_000)?.routes.find((x) => x.path === "/");
  if (big?.c1) {
    const met = big.c1.p50 < TARGET_OVERVIEW_P50_MS;
    console.log(`Target: GET / at 10,000 certs under ${TARGET_OVERVIEW_P50_MS} ms p50 (c1): ${fmt(big.c1.p50)} ms, ${met ? "met" : "MISSED"}`);
  }
}

process.exit(await runBench("dashboard", { daemonIssues: 0 }, benchSize, report));
