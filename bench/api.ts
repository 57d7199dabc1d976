/**
 * @module API benchmark: the compiled daemon with 1,000 and 10,000 configured certs, all
 * issued by the built-in local CA into a filesystem target, then `wrk` against a page of
 * the cert list, one cert, and `/healthz` (the floor: what any request costs). A report,
 * not a test: it exits 0 whether or not the target is met, 1 when a measurement failed.
 *
 * Transport: the daemon's `[http]` listener on 127.0.0.1, plain HTTP, every request with
 * the bearer token of its `token_file` (wrk `-H`), as a script would call it. Auth, the
 * security headers and `Cache-Control` are part of what each request costs.
 *
 * Issuing: up to --daemon-issues certs (default 1,000) the daemon issues them all at its
 * start; bigger sets are issued in this process before it starts (see `daemon.ts`).
 *
 * Usage: bun bench/api.ts [--certs 1000,10000] [--duration 5] [--daemon-issues 1000] [--rota PATH] [--keep]
 */
import { availableParallelism } from "node:os";
import { BEARER, certId, fmt, issuedHow, printLog, rssMiB, startIssued, stopDaemon, table, wrk, runBench, type Measure } from "./daemon.ts";

/** The paged list's p50 at 10,000 certs must be under this (issue 6). */
const TARGET_PAGE_P50_MS = 20;

interface RouteResult {
  path: string;
  c1: Measure;
  c16: Measure;
}

interface SizeResult {
  certs: number;
  seedSeconds: number | undefined;
  okSeconds: number;
  rss: number;
  routes: RouteResult[];
}

async function benchSize(certs: number, seconds: number, daemonIssues: boolean): Promise<SizeResult> {
  const { setup, proc, logPath, seedSeconds, okSeconds } = await startIssued("api", certs, daemonIssues);
  try {
    const paths = ["/healthz", "/api/certs?limit=100", `/api/certs/${certId(Math.floor(certs / 2))}`];
    const routes: RouteResult[] = [];
    for (const path of paths) {
      console.error(`  measuring ${path}`);
      routes.push({ path, c1: await wrk(setup.base + path, 1, seconds, BEARER), c16: await wrk(setup.base + path, 16, seconds, BEARER) });
    }
    return { certs, seedSeconds, okSeconds, rss: rssMiB(proc.pid), routes };
  } catch (err) {
    printLog(logPath);
    throw err;
  } finally {
    await stopDaemon(proc);
  }
}

function report(results: SizeResult[]): void {
  console.log(`\nTransport: wrk → the daemon's [http] listener on 127.0.0.1, bearer token; ${availableParallelism()} CPUs.`);
  console.log("c1: one connection, one request at a time (the latency of a request); c16: 16 connections (throughput).\n");
  const header = ["certs", "route", "c1 req/s", "c1 p50 ms", "c1 p99 ms", "c16 req/s", "c16 p50 ms", "c16 p99 ms"];
  const rows = results.flatMap((r) =>
    r.routes.map((x) => [String(r.certs), x.path.replace(/c\d{5}$/, "<id>"), fmt(x.c1.rps), fmt(x.c1.p50), fmt(x.c1.p99), fmt(x.c16.rps), fmt(x.c16.p50), fmt(x.c16.p99)]),
  );
  console.log(table(header, rows));
  console.log("");
  for (const r of results) console.log(`${r.certs} certs: ${issuedHow(r)}; daemon RSS after the runs ${r.rss.toFixed(0)} MiB`);
  const big = results.find((r) => r.certs === 10_000)?.routes.find((x) => x.path.startsWith("/api/certs?"));
  if (big) {
    const met = big.c1.p50 < TARGET_PAGE_P50_MS;
    console.log(`Target: GET /api/certs?limit=100 at 10,000 certs under ${TARGET_PAGE_P50_MS} ms p50 (c1): ${fmt(big.c1.p50)} ms, ${met ? "met" : "MISSED"}`);
  }
}

process.exit(await runBench("api", { daemonIssues: 1000 }, benchSize, report));
