/**
 * @module A real RFC 8555 CA for tests: Debian's pebble behind a throwaway HTTPS
 * certificate, resolving every name to 127.0.0.1 through pebble-challtestsrv. `binary`
 * runs another pebble: `pebble210()` finds the 2.10 that scripts/test-deps.sh unpacks
 * into .cache/pebble (ARI with a management override, alreadyReplaced, profiles).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeLoopbackTls } from "./certs.ts";
import { startChallTestSrv } from "./challtestsrv.ts";
import { freePort } from "./ports.ts";
import { spawnServer, waitFor, waitForPort, WaitAborted } from "./proc.ts";

export interface PebbleOptions {
  /** Scratch dir (from makeTempDir) for config, certificates and logs. */
  dir: string;
  /** Port pebble's VA connects to for HTTP-01: the test's nginx port. */
  httpPort: number;
  /** kid -> base64url HMAC key; turns on externalAccountBindingRequired. */
  eabKeys?: Record<string, string>;
  /** Lifetime of issued certificates; short ones make renewal testable. */
  validitySeconds?: number;
  /** Percentage of orders that reuse a valid authorization (pebble's default 50; 0 unless asked for). */
  authzReusePercent?: number;
  /** Keep pebble's default 5% rejection of good nonces (off unless asked for). */
  nonceReject?: boolean;
  watchdogSeconds?: number;
  /** The pebble executable; Debian's (2.4 on bookworm) when unset. */
  binary?: string;
  /**
   * Profiles for pebble ≥ 2.7, which ignores `validitySeconds` and gives an order without a
   * profile a random one of these. Unset with `binary`: one `default` profile of `validitySeconds`.
   */
  profiles?: Record<string, { description?: string; validityPeriod: number }>;
}

/** Where scripts/test-deps.sh unpacks pebble 2.10 from Debian testing. */
const PEBBLE_210 = join(import.meta.dir, "..", "..", ".cache", "pebble", "usr", "bin", "pebble");

/** pebble ≥ 2.10's path, or why there is none (tests that need it skip with that reason). */
export function pebble210(): { binary: string } | { missing: string } {
  if (!existsSync(PEBBLE_210)) return { missing: `no pebble 2.10 at ${PEBBLE_210}: run scripts/test-deps.sh (it fetches it from Debian testing)` };
  return { binary: PEBBLE_210 };
}

export interface Pebble {
  directoryUrl: string;
  /** PEM of the throwaway CA that signed pebble's HTTPS listener certificate. */
  caBundlePath: string;
  /** pebble's management interface (HTTPS, same CA). */
  managementUrl: string;
  /** pebble's issuing root; pebble makes a new one at each start. */
  rootPem(): Promise<string>;
  intermediatePem(): Promise<string>;
  /** DNS server (UDP+TCP on 127.0.0.1) pebble resolves through. */
  dnsPort: number;
  /** challtestsrv's HTTP management API, for records beyond TXT. */
  challtestsrvUrl: string;
  /** Publishes a TXT record; `host` with or without the trailing dot. */
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  /** pebble's and challtestsrv's combined log text, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export const DEFAULT_VALIDITY_SECONDS = 90 * 24 * 3600;

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const tlsDir = join(opts.dir, "pebble-tls");
  mkdirSync(tlsDir, { recursive: true });
  const tls = makeLoopbackTls(tlsDir);
  const ca = readFileSync(tls.caPath, "utf8");

  const dns = await startChallTestSrv({ dir: opts.dir, watchdogSeconds: opts.watchdogSeconds });
  const listenPort = await freePort();
  const mgmtPort = await freePort();
  // pebble dials this port for TLS-ALPN-01; nothing listens there unless a test does.
  const tlsPort = await freePort();

  const eab = opts.eabKeys !== undefined;
  const configPath = join(opts.dir, "pebble.json");
  writeFileSync(
    configPath,
    JSON.stringify(
      {
        pebble: {
          listenAddress: `127.0.0.1:${listenPort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: tls.certPath,
          privateKey: tls.keyPath,
          httpPort: opts.httpPort,
          tlsPort,
          ocspResponderURL: "",
          externalAccountBindingRequired: eab,
          ...(eab ? { externalAccountMACKeys: opts.eabKeys } : {}),
          certificateValidityPeriod: opts.validitySeconds ?? DEFAULT_VALIDITY_SECONDS,
          ...(opts.profiles || opts.binary
            ? { profiles: opts.profiles ?? { default: { description: "the test's lifetime", validityPeriod: opts.validitySeconds ?? DEFAULT_VALIDITY_SECONDS } } }
            : {}),
        },
      },
      null,
      2,
    ),
  );

  const server = spawnServer({
    name: "pebble",
    logDir: opts.dir,
    watchdogSeconds: opts.watchdogSeconds,
    cmd: [opts.binary ?? "pebble", "-config", configPath, "-dnsserver", `127.0.0.1:${dns.dnsPort}`],
    env: {
      // Without it the VA sleeps 0-15 s before each validation.
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: opts.nonceReject ? undefined : "0",
      // Reused authorizations skip validation; tests that watch a challenge need it every time.
      PEBBLE_AUTHZREUSE: String(opts.authzReusePercent ?? 0),
    },
  });

  const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmtPort}`;
  const get = async (url: string): Promise<Response> => {
    const res = await fetch(url, { tls: { ca } });
    if (!res.ok) throw new Error(`pebble: GET ${url}: HTTP ${res.status}`);
    return res;
  };

  const stop = async (): Promise<void> => {
    await Promise.all([server.stop(), dns.stop()]);
  };

  try {
    await waitForPort(listenPort, 15_000, server);
    await waitForPort(mgmtPort, 15_000, server);
    await waitFor(
      async () => {
        if (!server.running) throw new WaitAborted(`pebble exited:\n${server.output()}`);
        const dir = (await (await get(directoryUrl)).json()) as Record<string, unknown>;
        return typeof dir.newOrder === "string";
      },
      15_000,
      100,
      `pebble directory at ${directoryUrl}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    directoryUrl,
    caBundlePath: tls.caPath,
    managementUrl,
    rootPem: async () => (await get(`${managementUrl}/roots/0`)).text(),
    intermediatePem: async () => (await get(`${managementUrl}/intermediates/0`)).text(),
    dnsPort: dns.dnsPort,
    challtestsrvUrl: dns.managementUrl,
    setTxt: dns.setTxt,
    clearTxt: dns.clearTxt,
    output: () => `--- pebble ---\n${server.output()}\n--- challtestsrv ---\n${dns.server.output()}`,
    stop,
  };
}
