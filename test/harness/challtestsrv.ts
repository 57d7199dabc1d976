/**
 * @module pebble-challtestsrv as the DNS server pebble resolves through: every A
 * query answers 127.0.0.1, and TXT records for DNS-01 (and CNAMEs) are set over its HTTP API.
 */
import { freePort } from "./ports.ts";
import { spawnServer, waitForPort, type ServerProcess } from "./proc.ts";

export interface ChallTestSrv {
  dnsPort: number;
  managementUrl: string;
  server: ServerProcess;
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  setCname(host: string, target: string): Promise<void>;
  clearCname(host: string): Promise<void>;
  stop(): Promise<void>;
}

/** challtestsrv keys records by FQDN with the trailing dot. */
function fqdn(host: string): string {
  return host.endsWith(".") ? host : `${host}.`;
}

export async function startChallTestSrv(opts: { dir: string; watchdogSeconds?: number }): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const mgmtPort = await freePort();
  const server = spawnServer({
    name: "challtestsrv",
    logDir: opts.dir,
    watchdogSeconds: opts.watchdogSeconds,
    cmd: [
      "pebble-challtestsrv",
      "-dns01", `127.0.0.1:${dnsPort}`,
      "-management", `127.0.0.1:${mgmtPort}`,
      // Its own challenge responders would take ports and are not what we test.
      "-http01", "", "-https01", "", "-tlsalpn01", "",
      // Without this AAAA answers ::1, pebble tries IPv6 first and HTTP-01 fails
      // against a webserver bound to 127.0.0.1 only.
      "-defaultIPv6", "",
      "-defaultIPv4", "127.0.0.1",
    ],
  });
  try {
    // The DNS server listens on TCP as well as UDP, so a TCP probe tells it is up.
    await waitForPort(mgmtPort, 10_000, server);
    await waitForPort(dnsPort, 10_000, server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const managementUrl = `http://127.0.0.1:${mgmtPort}`;

  async function post(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${managementUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path}: HTTP ${res.status} ${await res.text()}`);
  }

  return {
    dnsPort,
    managementUrl,
    server,
    setTxt: (host, value) => post("/set-txt", { host: fqdn(host), value }),
    clearTxt: (host) => post("/clear-txt", { host: fqdn(host) }),
    setCname: (host, target) => post("/set-cname", { host: fqdn(host), target: fqdn(target) }),
    clearCname: (host) => post("/clear-cname", { host: fqdn(host) }),
    async stop() {
      await server.stop();
    },
  };
}
