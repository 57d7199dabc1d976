/**
 * @module Reads back a haproxy target: the bundle `<dir>/<cert id>.pem` judged whole (what
 * a restart would load), then the serial each runtime API socket serves for that path.
 * A process serving another serial than the file (a swap that failed, a restart from an
 * older file) makes the target `damaged`, so the scheduler puts the stored certificate
 * back without a new order. The file's verdict is cached by its lstat identity; the
 * sockets are asked at every call (one short command each).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { constants, type BigIntStats } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { basename } from "node:path";
import { splitPem } from "../../../crypto/x509.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import type { ReadBack } from "../../types.ts";
import { endpointName, sameSerial, type HaproxyClient } from "./client.ts";

/** Far above any bundle; a bigger file is not one rota wrote. */
const MAX_FILE_BYTES = 1 << 20;

export type BundleReader = (certId: string, signal: AbortSignal) => Promise<ReadBack>;

export interface BundleReaderOptions {
  /** `haproxy <name>`, the prefix of every error. */
  who: string;
  bundlePath: (certId: string) => string;
  /** A client per socket, given the call's signal so a cancelled read-back stops waiting on HAProxy. */
  clients: (signal: AbortSignal) => HaproxyClient[];
}

export function createBundleReader(opts: BundleReaderOptions): BundleReader {
  const { who } = opts;
  const cache = new Map<string, { identity: string; verdict: Judged }>();
  return async (certId, signal) => {
    throwIfAborted(signal, who);
    const path = opts.bundlePath(certId);
    const st = await lstatOrNull(path, who);
    if (!st) return { state: "absent" };
    const identity = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}`;
    const cached = cache.get(certId);
    const judged = cached?.identity === identity ? cached.verdict : await judge(path, st, who, signal);
    cache.set(certId, { identity, verdict: judged });
    if (judged.verdict.state !== "present") return judged.verdict;
    for (const client of opts.clients(signal)) {
      let served: string | null;
      try {
        served = await client.servedSerial(path);
      } catch (err) {
        const code = err instanceof RotaError && err.code === "aborted" ? "aborted" : "read_failed";
        throw new RotaError(code, `${who}: ${(err as Error).message}`, { cause: err });
      }
      const where = endpointName(client.endpoint);
      if (served === null) return { state: "damaged", reason: `${where} does not load ${path}` };
      if (!sameSerial(served, judged.serial)) {
        return { state: "damaged", reason: `${where} serves serial ${served}, ${basename(path)} holds ${judged.serial}` };
      }
    }
    return judged.verdict;
  };
}

interface Judged {
  verdict: ReadBack;
  /** The file's leaf serial, lowercase hex, when the verdict is `present`. */
  serial: string;
}

async function judge(path: string, st: BigIntStats, who: string, signal: AbortSignal): Promise<Judged> {
  const file = basename(path);
  const damaged = (reason: string): Judged => ({ verdict: { state: "damaged", reason }, serial: "" });
  if (st.isSymbolicLink()) return damaged(`${file} is a symlink`);
  if (!st.isFile()) return damaged(`${file} is not a regular file`);
  if (st.size === 0n) return damaged(`${file} is empty`);
  if (st.size > MAX_FILE_BYTES) return damaged(`${file} is larger than 1 MiB`);
  const mode = Number(st.mode & 0o777n);
  if (mode !== 0o600) return damaged(`${file} has mode 0${mode.toString(8).padStart(3, "0")}, expected 0600`);
  const text = await readNoFollow(path, who, signal);
  const [leafPem, ...chainPems] = splitPem(text);
  if (!leafPem) return damaged(`${file} holds no certificate`);
  const leaf = parse(leafPem);
  if (!leaf) return damaged(`${file}: its first certificate cannot be parsed`);
  const issuer = chainPems[0] === undefined ? null : parse(chainPems[0]);
  if (!issuer) return damaged(`${file} holds no chain after the certificate`);
  if (!safely(() => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) return damaged(`${file}: the chain does not issue the certificate`);
  const keyBlock = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]*?-----END (?:EC |RSA )?PRIVATE KEY-----/.exec(text)?.[0];
  if (!keyBlock) return damaged(`${file} holds no private key`);
  let key;
  try {
    key = createPrivateKey(keyBlock);
  } catch {
    // The parser's message may quote the key: none of it goes into the reason.
    return damaged(`${file}: its private key cannot be parsed`);
  }
  if (!safely(() => leaf.checkPrivateKey(key))) return damaged(`${file}: the private key does not match the certificate`);
  throwIfAborted(signal, who);
  return { verdict: { state: "present", leafPem }, serial: leaf.serialNumber.toLowerCase() };
}

async function lstatOrNull(path: string, who: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new RotaError("read_failed", `${who}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** O_NOFOLLOW: a link swapped in after the lstat is not read through. */
async function readNoFollow(path: string, who: string, signal: AbortSignal): Promise<string> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return await handle.readFile({ encoding: "utf8", signal });
    } finally {
      await handle.close();
    }
  } catch (err) {
    throwIfAborted(signal, who);
    throw new RotaError("read_failed", `${who}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parse(pem: string): X509Certificate | null {
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
