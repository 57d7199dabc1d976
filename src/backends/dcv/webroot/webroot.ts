/**
 * @module WebrootDcv: answers HTTP-01 by dropping the key authorization under a folder an
 * existing webserver already serves (RFC 8555 §8.3). Async fs only, and every call raced
 * against its signal: the daemon removes journaled challenges itself, and a webroot on a
 * mount that stops answering must not hold its event loop or its shutdown. A publish
 * that gives up leaves its write running; `remove` waits for it, so a file cannot land
 * after the renewal removed it and forgot its journal entry.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { supportsKind, type ChallengeKind, type Checkable, type DcvBackend, type DcvChallenge } from "../../types.ts";
import { UnfinishedWrites, untilAborted } from "../unfinished.ts";
import type { WebrootConfig } from "./config.ts";

/** RFC 8555 §8.1: tokens are base64url; anything else must never become a path. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export function createWebrootDcv(name: string, cfg: WebrootConfig): DcvBackend & Checkable {
  const who = `webroot ${name}`;
  const dir = join(cfg.path, ".well-known", "acme-challenge");
  /** Per file, its writes still running, though their publish may have stopped waiting. */
  const writing = new UnfinishedWrites();

  function fileOf(challenge: DcvChallenge): string {
    if (challenge.kind !== "http-01") throw new RotaError("unsupported", `${who}: cannot solve ${challenge.kind}`, { noRetry: true });
    if (!TOKEN.test(challenge.token)) throw new RotaError("bad_token", `${who}: refusing token ${JSON.stringify(challenge.token)}`, { noRetry: true });
    return join(dir, challenge.token);
  }

  return {
    name,
    supportedKinds: (): ChallengeKind[] => ["http-01"],
    async check(_signal, checkCtx) {
      return (await import("./check.ts")).checkWebroot(cfg, checkCtx);
    },
    supports(challenge) {
      return supportsKind(this, challenge);
    },
    async publish(challenge, signal) {
      throwIfAborted(signal, who);
      const file = fileOf(challenge);
      const text = (challenge as Extract<DcvChallenge, { kind: "http-01" }>).keyAuthorization;
      try {
        const write = writeChallenge(file, text);
        writing.track(file, write);
        await untilAborted(write, signal, who);
      } catch (err) {
        if (err instanceof RotaError && err.code === "aborted") throw err;
        throw new RotaError("publish_failed", `${who}: cannot write ${file}: ${(err as Error).message}`, { cause: err });
      }
    },
    async remove(challenge, signal) {
      const file = fileOf(challenge);
      throwIfAborted(signal, who);
      try {
        // After a publish cut short (a shutdown mid-write), a rename still to come would put the file back.
        const removed = writing.settled(file).then(() => removeWithTemps(file));
        await untilAborted(removed, signal, who);
      } catch (err) {
        if (err instanceof RotaError && err.code === "aborted") throw err;
        throw new RotaError("remove_failed", `${who}: cannot remove ${file}: ${(err as Error).message}`, { cause: err });
      }
    },
  } satisfies DcvBackend & Checkable;
}

/**
 * Writes the challenge file whole under its final name (a temp file renamed over it), in
 * folders created 0755 whatever the umask: the webserver's workers rarely run as our user.
 * Not fsynced: a challenge lives for seconds, and after a crash the journal removes it.
 */
async function writeChallenge(file: string, text: string): Promise<void> {
  const folder = dirname(file);
  const first = await mkdir(folder, { recursive: true, mode: 0o755 });
  if (first !== undefined) {
    for (let d = folder; ; d = dirname(d)) {
      await chmod(d, 0o755);
      if (d === first || dirname(d) === d) break;
    }
  }
  const tmp = join(folder, `${tempPrefix(file)}${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx", 0o600);
  try {
    await handle.chmod(0o644);
    await handle.writeFile(text);
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

/** Temp files of `file` start so: a writer killed before its rename leaves one that `remove` can still find. */
function tempPrefix(file: string): string {
  return `.${basename(file)}.`;
}

/** The challenge file and any temp file of it a killed writer left. */
async function removeWithTemps(file: string): Promise<void> {
  await rm(file, { force: true });
  const prefix = tempPrefix(file);
  const left = await readdir(dirname(file)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  for (const name of left) if (name.startsWith(prefix) && name.endsWith(".tmp")) await rm(join(dirname(file), name), { force: true });
}
