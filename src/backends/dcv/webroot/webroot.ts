/**
 * @module WebrootDcv: answers HTTP-01 by dropping the key authorization under a folder an
 * existing webserver already serves (RFC 8555 §8.3).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";
import { supportsKind, type ChallengeKind, type DcvBackend, type DcvChallenge } from "../../types.ts";
import type { WebrootConfig } from "./config.ts";

/** RFC 8555 §8.1: tokens are base64url; anything else must never become a path. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export function createWebrootDcv(name: string, cfg: WebrootConfig): DcvBackend {
  const dir = join(cfg.path, ".well-known", "acme-challenge");

  function fileOf(challenge: DcvChallenge): string {
    if (challenge.kind !== "http-01") throw new RotaError("unsupported", `webroot ${name}: cannot solve ${challenge.kind}`, { noRetry: true });
    if (!TOKEN.test(challenge.token)) throw new RotaError("bad_token", `webroot ${name}: refusing token ${JSON.stringify(challenge.token)}`, { noRetry: true });
    return join(dir, challenge.token);
  }

  return {
    name,
    supportedKinds: (): ChallengeKind[] => ["http-01"],
    supports(challenge) {
      return supportsKind(this, challenge);
    },
    async publish(challenge, signal) {
      throwIfAborted(signal, `webroot ${name}`);
      const file = fileOf(challenge);
      try {
        // World-readable: the webserver's workers rarely run as our user.
        ensureDir(dir, 0o755);
        writeFileAtomic(file, (challenge as Extract<DcvChallenge, { kind: "http-01" }>).keyAuthorization, { mode: 0o644 });
      } catch (err) {
        throw new RotaError("publish_failed", `webroot ${name}: cannot write ${file}: ${(err as Error).message}`, { cause: err });
      }
    },
    async remove(challenge) {
      const file = fileOf(challenge);
      try {
        rmSync(file, { force: true });
      } catch (err) {
        throw new RotaError("remove_failed", `webroot ${name}: cannot remove ${file}: ${(err as Error).message}`, { cause: err });
      }
    },
  } satisfies DcvBackend;
}
