/**
 * @module One ACME world per test file: pebble + challtestsrv, an nginx serving a
 * webroot, and a rota config pointing at them, all on loopback in a temp dir.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, startNginx, startPebble, type Nginx, type Pebble, type PebbleOptions } from "../harness/index.ts";

export interface World {
  dir: string;
  webroot: string;
  certsDir: string;
  stateDir: string;
  socket: string;
  pebble: Pebble;
  nginx: Nginx;
  /** Environment for the daemon: NODE_EXTRA_CA_CERTS removed, so only `ca_bundle` can make pebble trusted. */
  env: Record<string, string | undefined>;
  /** Writes `rota.toml` from the given extra sections and returns its path. */
  writeConfig(opts?: ConfigOptions): string;
  stop(): Promise<void>;
}

export interface ConfigOptions {
  daemon?: Record<string, number | string>;
  ca?: Record<string, string>;
  certs?: Array<{ id: string; domains: string[]; dcv?: string; extra?: string }>;
  /** Raw TOML appended at the end. */
  extra?: string;
  directoryUrl?: string;
}

export async function startWorld(
  opts: Pick<PebbleOptions, "validitySeconds" | "eabKeys" | "authzReusePercent" | "nonceReject" | "binary" | "profiles"> = {},
): Promise<World> {
  const dir = makeTempDir("rota-e2e-");
  const webroot = join(dir, "webroot");
  mkdirSync(webroot, { mode: 0o755 });
  const nginx = await startNginx({ prefix: join(dir, "nginx"), webroot });
  const pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: nginx.port, ...opts });
  const certsDir = join(dir, "certs");
  const stateDir = join(dir, "state");
  const socket = join(dir, "rota.sock");
  const env = { NODE_EXTRA_CA_CERTS: undefined, SSL_CERT_FILE: undefined };

  function writeConfig(c: ConfigOptions = {}): string {
    const daemon = { state_dir: stateDir, socket, check_interval_seconds: 3600, ...c.daemon };
    const ca = { directory_url: c.directoryUrl ?? pebble.directoryUrl, email: "ops@example.test", ca_bundle: pebble.caBundlePath, ...c.ca };
    const certs = c.certs ?? [{ id: "www", domains: ["www.example.test", "example.test"] }];
    const toml = [
      "[daemon]",
      ...Object.entries(daemon).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
      "",
      '[[ca]]\nname = "pebble"\ntype = "acme"',
      ...Object.entries(ca).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
      "",
      `[[dcv]]\nname = "web"\ntype = "webroot"\npath = ${JSON.stringify(webroot)}`,
      "",
      `[[install]]\nname = "files"\ntype = "filesystem"\ndir = ${JSON.stringify(certsDir)}`,
      ...certs.map(
        (cert) =>
          `\n[[cert]]\nid = "${cert.id}"\ndomains = ${JSON.stringify(cert.domains)}\nca = "pebble"\ndcv = "${cert.dcv ?? "web"}"\ninstall = "files"\nkey_path = ${JSON.stringify(join(stateDir, "keys", `${cert.id}.key`))}\n${cert.extra ?? ""}`,
      ),
      c.extra ?? "",
    ].join("\n");
    const path = join(dir, "rota.toml");
    writeFileSync(path, toml);
    return path;
  }

  return {
    dir,
    webroot,
    certsDir,
    stateDir,
    socket,
    pebble,
    nginx,
    env,
    writeConfig,
    async stop() {
      await nginx.stop().catch(() => {});
      await pebble.stop().catch(() => {});
      removeTempDir(dir);
    },
  };
}
