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
 *
 * A path a socket does not reference fails the step saying what to add to HAProxy's config;
 * with `reload_command` HAProxy is reloaded instead, then asked until it loads the file
 * (after-reload.ts). A reload after which it still does not fails too: reported as success,
 * the read-back would find the path unloaded at every look and reload again each time.
 */
import { X509Certificate, createHash } from "node:crypto";
import { join } from "node:path";
import { describeError, RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir, refuseSymlink, writeFileAtomic } from "../../../fsutil.ts";
import { withLock } from "../../../lockfile.ts";
import type { BackendContext } from "../../context.ts";
import type { Checkable, InstallBackend, ReadableInstall } from "../../types.ts";
import { runCommand, type Command } from "../command.ts";
import { withPostInstall } from "../post-install.ts";
import { createHaproxyClient, endpointName, isNotConnected, isNotReferenced, isPermissionDenied, type Endpoint, type HaproxyClient } from "./client.ts";
import type { HaproxyConfig } from "./config.ts";
import { addCrtHint, awaitLoaded, type Look } from "./after-reload.ts";
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

  /**
   * Swaps `bundle` in through each socket in turn, under the lock of the process behind it.
   * Returns what to report, and the sockets whose HAProxy does not reference `path`.
   */
  async function swapEach(path: string, bundle: string): Promise<{ failures: string[]; unreferenced: Unreferenced[] }> {
    const failures: string[] = [];
    const unreferenced: Unreferenced[] = [];
    /** Each process a swap committed in, with the socket it went through. */
    const committed = new Map<string, string>();
    const refused: Array<{ where: string; process: string | null; err: unknown }> = [];
    for (const endpoint of cfg.sockets) {
      const where = endpointName(endpoint);
      const client = clientFor(endpoint);
      let process: string | null = null;
      try {
        process = await client.processId();
        // Without a Pid in `show info`, the lock is the socket's: swaps through it take turns at least.
        const lockPath = join(lockDir, `${lockName(process === null ? `socket ${where}` : `process ${process}`)}.lock`);
        ensureDir(lockDir, 0o700);
        await withLock(lockPath, LOCK_WAIT_MS, `${who}: ${where}`, () => swap(client, path, bundle));
        if (process !== null) committed.set(process, where);
      } catch (err) {
        if (isNotReferenced(err)) unreferenced.push({ endpoint, process });
        else if (isNotConnected(err)) failures.push(`${describeError(err)}; nothing was changed through that socket`);
        else refused.push({ where, process, err });
      }
    }
    // A socket into a process that another socket swapped in (a second, `level user` one) does not serve the old certificate.
    for (const { where, process, err } of refused) {
      const through = process === null ? undefined : committed.get(process);
      const why = isPermissionDenied(err) ? `${describeError(err)} (a swap needs "stats socket … level admin")` : describeError(err);
      failures.push(
        through === undefined
          ? `${why}; ${where} still serves the previous certificate`
          : `${why}; ${where} reaches the same HAProxy process (${process}) as ${through}, which serves the new certificate`,
      );
    }
    return { failures, unreferenced };
  }

  /**
   * Runs `reload_command`, then checks through each socket that did not reference `path` that
   * HAProxy loads it now: a reload that leaves it unloaded would pass at every look and reload
   * again at the next. Returns what to report.
   */
  async function reloadAndCheck(reload: Command, unreferenced: Unreferenced[], path: string, serial: string, signal: AbortSignal): Promise<string[]> {
    try {
      await runCommand(who, reload, { withheld: ctx.withheldEnv(), signal });
    } catch (err) {
      return [describeError(err)];
    }
    const problems: string[] = [];
    const asked = new Set<string>();
    for (const { endpoint, process } of unreferenced) {
      // Two sockets into one process: one wait is enough, and a reload that did nothing would cost two.
      if (process !== null && asked.has(process)) continue;
      if (process !== null) asked.add(process);
      const client = clientFor(endpoint, signal);
      const problem = await awaitLoaded({ where: endpointName(endpoint), path, serial, before: process }, () => lookAt(client, path), ctx.clock, signal);
      if (problem !== null) problems.push(problem);
    }
    return problems;
  }

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

      const { failures, unreferenced } = await swapEach(path, bundle);
      if (cfg.reload && (unreferenced.length > 0 || cfg.sockets.length === 0)) {
        failures.push(...(await reloadAndCheck(cfg.reload, unreferenced, path, serial, signal)));
      } else if (unreferenced.length > 0) {
        const wheres = unreferenced.map((u) => endpointName(u.endpoint));
        failures.push(`${wheres.join(", ")} ${wheres.length === 1 ? "does" : "do"} not reference ${path}: ${addCrtHint(path)} and reload it, or set reload_command`);
      }
      if (failures.length > 0) throw new RotaError("install_failed", `${who}: ${path} holds serial ${serial}, but ${failures.join("; ")}`);
    },
    readBack: createBundleReader({ who, bundlePath, clients: (signal) => cfg.sockets.map((e) => clientFor(e, signal)) }),
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkHaproxy(cfg, ctx.clock, signal, checkCtx);
    },
  } satisfies ReadableInstall & Checkable;
}

/** A socket whose HAProxy does not reference the path, with the process that answered there (null: unknown). */
interface Unreferenced {
  endpoint: Endpoint;
  process: string | null;
}

/**
 * One look after a reload: which process answers (asked before and after, so a reload in
 * between is not mistaken for one process) and what it serves for `path`.
 */
async function lookAt(client: HaproxyClient, path: string): Promise<Look> {
  try {
    const before = await client.processId();
    const serial = await client.servedSerial(path);
    const after = await client.processId();
    return { kind: "answered", process: before === after ? before : null, serial };
  } catch (err) {
    return { kind: "failed", error: describeError(err) };
  }
}

/**
 * Stages and commits `bundle` for `path`; after any failure aborts the transaction, so the
 * next swap into this HAProxy (ours or an operator's) does not find one half done. A `set`
 * that never connected, or that a socket below `level admin` refused, staged nothing: it is
 * rethrown as it is, with no abort to try (which that socket would refuse too).
 */
async function swap(client: HaproxyClient, path: string, bundle: string): Promise<void> {
  try {
    await client.setCert(path, bundle);
  } catch (err) {
    if (isNotConnected(err) || isPermissionDenied(err)) throw err;
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
