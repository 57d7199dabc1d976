/**
 * @module HaproxyInstall: the bundle HAProxy loads at `<dir>/<cert id>.pem` (leaf, chain,
 * key; 0600), written atomically so a restart keeps it, then hot-swapped in memory through
 * every runtime API socket: `set ssl cert` + `commit ssl cert`, and `abort ssl cert` after
 * any failure so no transaction is left open.
 *
 * HAProxy holds ONE certificate transaction for the whole process, whichever socket a
 * command comes through, and renewals run in separate processes. So each swap first asks
 * the socket which process answers (`show info`: Node and Pid, one round trip) and holds a
 * lock file named after that process under `<state_dir>/haproxy/` from `set` to `commit`
 * or `abort`: two swaps into one HAProxy take turns whether they come through one socket or
 * two, from one target or two. One lock at a time, so no order is needed against deadlock.
 * Not covered: rota processes with different state folders; commands typed by an operator
 * (rota retries HAProxy's "currently locked" refusal, but cannot stop another client's
 * `set ssl cert`); a HAProxy restarted or reloaded between `show info` and the commit (the
 * new process starts with no transaction and loads the file already written).
 */
import { X509Certificate, createHash } from "node:crypto";
import { join } from "node:path";
import { describeError, RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir, refuseSymlink, writeFileAtomic } from "../../../fsutil.ts";
import { withLock } from "../../../lockfile.ts";
import type { BackendContext } from "../../context.ts";
import type { Checkable, InstallBackend, ReadableInstall } from "../../types.ts";
import { runCommand } from "../command.ts";
import { withPostInstall } from "../post-install.ts";
import { createHaproxyClient, endpointName, isNotConnected, isNotReferenced, type Endpoint, type HaproxyClient } from "./client.ts";
import type { HaproxyConfig } from "./config.ts";
import { createBundleReader } from "./read-back.ts";

/** One runtime API command, connect to reply; HAProxy answers these in milliseconds. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** How long a swap waits for another one into the same HAProxy (each is a few commands). */
const LOCK_WAIT_MS = 60_000;

/** The target as the registry builds it: `post_install_command` after the swap. */
export function createHaproxyTarget(name: string, cfg: HaproxyConfig, ctx: Pick<BackendContext, "stateDir" | "clock" | "withheldEnv">): InstallBackend {
  return withPostInstall(createHaproxyInstall(name, cfg, ctx), `haproxy ${name}`, cfg.postInstall, () => cfg.dir, ctx.withheldEnv);
}

export function createHaproxyInstall(name: string, cfg: HaproxyConfig, ctx: Pick<BackendContext, "stateDir" | "clock" | "withheldEnv">): ReadableInstall & Checkable {
  const who = `haproxy ${name}`;
  const bundlePath = (certId: string) => join(cfg.dir, `${certId}.pem`);
  const clientFor = (e: Endpoint, signal?: AbortSignal) => createHaproxyClient(e, { clock: ctx.clock, timeoutMs: COMMAND_TIMEOUT_MS, signal });
  const lockDir = join(ctx.stateDir, "haproxy");

  return {
    name,
    async install(req, signal) {
      throwIfAborted(signal, who);
      const path = bundlePath(req.certId);
      const serial = serialOf(req.leafPem, who);
      const bundle = withNewline(req.leafPem) + withNewline(req.chainPem) + withNewline(req.privateKeyPem);
      try {
        ensureDir(cfg.dir, 0o755);
        refuseSymlink(path);
        writeFileAtomic(path, bundle, { mode: 0o600 });
      } catch (err) {
        if (err instanceof RotaError && err.code === "symlink_refused") throw new RotaError(err.code, `${who}: ${err.message}`, { cause: err });
        throw new RotaError("install_failed", `${who}: cannot write ${path}: ${(err as Error).message}`, { cause: err });
      }

      const failures: string[] = [];
      const unreferenced: string[] = [];
      for (const endpoint of cfg.sockets) {
        const where = endpointName(endpoint);
        const client = clientFor(endpoint);
        try {
          const lockPath = join(lockDir, `${lockName(await processKey(client))}.lock`);
          ensureDir(lockDir, 0o700);
          await withLock(lockPath, LOCK_WAIT_MS, `${who}: ${where}`, () => swap(client, path, bundle));
        } catch (err) {
          if (isNotReferenced(err)) unreferenced.push(where);
          else if (isNotConnected(err)) failures.push(`${describeError(err)}; nothing was changed through that socket`);
          else failures.push(`${describeError(err)}; ${where} still serves the previous certificate`);
        }
      }
      if (cfg.reload && (unreferenced.length > 0 || cfg.sockets.length === 0)) {
        await runCommand(who, cfg.reload, { withheld: ctx.withheldEnv(), signal }).catch((err: unknown) => failures.push(describeError(err)));
      } else if (unreferenced.length > 0) {
        failures.push(
          `${unreferenced.join(", ")} ${unreferenced.length === 1 ? "does" : "do"} not reference ${path}: ` +
            `add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config and reload it, or set reload_command`,
        );
      }
      if (failures.length > 0) throw new RotaError("install_failed", `${who}: ${path} holds serial ${serial}, but ${failures.join("; ")}`);
    },
    readBack: createBundleReader({ who, bundlePath, clients: (signal) => cfg.sockets.map((e) => clientFor(e, signal)) }),
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkHaproxy(cfg, ctx.clock, signal, checkCtx);
    },
  } satisfies ReadableInstall & Checkable;
}

/**
 * What a swap's lock is named after: the HAProxy process behind the socket, or the socket's
 * address when `show info` names no process. Throws what the client throws (not connected).
 */
async function processKey(client: HaproxyClient): Promise<string> {
  const id = await client.processId();
  return id === null ? `socket ${endpointName(client.endpoint)}` : `process ${id}`;
}

/**
 * Stages and commits `bundle` for `path`; after any failure aborts the transaction, so the
 * next swap into this HAProxy (ours or an operator's) does not find one half done. A `set`
 * that never connected staged nothing: it is rethrown as it is, with no abort to try.
 */
async function swap(client: HaproxyClient, path: string, bundle: string): Promise<void> {
  try {
    await client.setCert(path, bundle);
  } catch (err) {
    if (isNotConnected(err)) throw err;
    return abortAfter(client, path, err);
  }
  try {
    await client.commitCert(path);
  } catch (err) {
    return abortAfter(client, path, err);
  }
}

/** Aborts `path`'s transaction after `err`, then throws `err` (with the abort's failure, if any). */
async function abortAfter(client: HaproxyClient, path: string, err: unknown): Promise<never> {
  try {
    await client.abortCert(path);
  } catch (abortErr) {
    throw new RotaError("install_failed", `${describeError(err)}; then ${describeError(abortErr)}: a transaction may be left open`, { cause: err });
  }
  throw err;
}

/** A file name for a lock: the key may hold any character. */
function lockName(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

function serialOf(leafPem: string, who: string): string {
  try {
    return new X509Certificate(leafPem).serialNumber.toLowerCase();
  } catch (err) {
    throw new RotaError("install_failed", `${who}: the certificate cannot be parsed: ${(err as Error).message}`, { cause: err, noRetry: true });
  }
}

function withNewline(pem: string): string {
  return pem === "" || pem.endsWith("\n") ? pem : `${pem}\n`;
}
