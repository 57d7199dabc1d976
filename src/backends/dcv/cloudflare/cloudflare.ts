/**
 * @module CloudflareDcv: answers DNS-01 with a TXT record, and `dns-cname` with a CNAME, made
 * through the Cloudflare v4 API (issue 9 §2, issue 13 §2). Nothing is remembered between publish
 * and remove: remove finds the records by type, name and value, so the journal can clean up after a crash.
 * A create already sent when its publish is cancelled may still be made, so it runs to its reply
 * under a per-zone lock file in `state_dir`, and remove lists under the same lock: in the renewal's
 * own process, and in the daemon's journal sweep that follows a renewal whose remove ran out of
 * time. A remove that cannot take the lock within its signal fails, and the challenge stays journaled.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readSecret } from "../../../config/secret.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { withLock } from "../../../lockfile.ts";
import type { BackendContext } from "../../context.ts";
import { supportsKind, type BatchRemovingDcv, type ChallengeKind, type Checkable, type DcvChallenge, type PropagatingDcv, type RemoveFailure } from "../../types.ts";
import { asDnsChallenge, cnameConflict, sameTarget, type Dns01Challenge, type DnsChallenge, type DnsCnameChallenge } from "../dns01.ts";
import { markUnwritten } from "../unwritten.ts";
import { noReplyWithin, UnfinishedWrites, untilAborted, WRITE_SETTLE_MS, type LateWrites } from "../unfinished.ts";
import { CloudflareClient, REQUEST_TIMEOUT_MS, type DnsRecord } from "./client.ts";
import type { CloudflareConfig } from "./config.ts";

/** Long enough for another process's create, bounded by its own request time limit; callers' signals end the wait sooner. */
const LOCK_WAIT_MS = 120_000;

/** How long a create is waited for: the step's answer, and the request itself (unfinished.ts). */
export interface WriteLimits {
  /** The step fails after this without a reply. */
  replyMs: number;
  /** The request, and the zone's lock, are given up after this. */
  settleMs: number;
}

export const CLOUDFLARE_WRITE_LIMITS: WriteLimits = { replyMs: REQUEST_TIMEOUT_MS, settleMs: WRITE_SETTLE_MS };

export function createCloudflareDcv(
  name: string,
  cfg: CloudflareConfig,
  ctx: Pick<BackendContext, "clock" | "stateDir">,
  limits = CLOUDFLARE_WRITE_LIMITS,
): PropagatingDcv & BatchRemovingDcv & Checkable & LateWrites {
  const who = `cloudflare ${name}`;
  /** This process's creates still open, by zone, whether their publish still waits or not. */
  const writing = new UnfinishedWrites();
  /** The zone id of each record name seen: publish and remove of one challenge walk the labels once. */
  const zoneOf = new Map<string, string>();
  let client: CloudflareClient | undefined;
  // One folder for the type, not this section: two sections on one account may share a zone.
  const lockDir = join(ctx.stateDir, "cloudflare");

  /**
   * Runs `fn` holding the zone's lock, waiting for it within `signal`. Held while a create
   * awaits its reply, even once its publish has given up: no remove lists the zone meanwhile.
   * A wait cut off by `signal` fails with `zone_busy`, saying what holds the lock.
   */
  async function inZone<T>(zoneId: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    let holding = false;
    try {
      // Zone ids are 32 hex digits; one from the API must still never become a path.
      return await withLock(
        join(lockDir, `${zoneId.replace(/[^0-9A-Za-z]/g, "_")}.lock`),
        LOCK_WAIT_MS,
        who,
        () => {
          holding = true;
          return fn();
        },
        signal,
      );
    } catch (err) {
      if (holding || !signal.aborted) throw err;
      throw new RotaError(
        "zone_busy",
        writing.running(zoneId)
          ? `${who}: zone ${zoneId}: a record create sent earlier still awaits Cloudflare's reply; nothing listed or deleted until it ends`
          : `${who}: zone ${zoneId}: another change (another renewal's, or a create awaiting Cloudflare's reply) still holds the zone's lock; nothing listed or deleted`,
      );
    }
  }

  // Read when first used, so a token rotated on disk is picked up by the next renewal's process.
  function api(): CloudflareClient {
    client ??= new CloudflareClient({ apiUrl: cfg.apiUrl, token: token(cfg, who), who, clock: ctx.clock, settleMs: limits.settleMs });
    return client;
  }

  /** `zone_id` when configured, else the closest enclosing zone the token can see (`GET /zones?name=`, walking up). */
  async function zoneFor(recordName: string, signal: AbortSignal): Promise<string> {
    if (cfg.zoneId !== undefined) return cfg.zoneId;
    const known = zoneOf.get(recordName);
    if (known !== undefined) return known;
    const labels = recordName.split(".");
    const tried: string[] = [];
    // A zone has at least two labels; a TLD is never a customer's zone.
    for (let i = 0; i < labels.length - 1; i++) {
      const candidate = labels.slice(i).join(".");
      tried.push(candidate);
      const zone = await api().zoneByName(candidate, signal);
      if (zone !== undefined) {
        zoneOf.set(recordName, zone.id);
        return zone.id;
      }
    }
    throw new RotaError(
      "no_zone",
      `${who}: no zone for ${recordName} among those the API token can read (tried ${tried.join(", ")}); check the token's Zone:Read permission, or set zone_id`,
      { noRetry: true },
    );
  }

  async function ours(zoneId: string, ch: Dns01Challenge, signal: AbortSignal): Promise<DnsRecord[]> {
    const records = await api().recordsAt(zoneId, fqdn(ch.recordName), "TXT", signal);
    return records.filter((r) => isOurs(r, ch));
  }

  /** Every record at the CNAME's name (a CNAME owns its name), and which of them are ours. */
  async function atCname(zoneId: string, ch: DnsCnameChallenge, signal: AbortSignal): Promise<{ all: DnsRecord[]; ours: DnsRecord[] }> {
    const all = await api().recordsAt(zoneId, fqdn(ch.recordName), undefined, signal);
    return { all, ours: all.filter((r) => isOurs(r, ch)) };
  }

  /**
   * Each zone's challenges under one hold of its lock, one list per name: the journal's sweep
   * hands a zone's stale records at once. Under the lock, since a create its publish gave up
   * on may still make the record, and a list before its reply would miss it.
   */
  async function removeMany(challenges: DcvChallenge[], signal: AbortSignal): Promise<RemoveFailure[]> {
    const failures: RemoveFailure[] = [];
    const byZone = new Map<string, { challenge: DcvChallenge; ch: DnsChallenge }[]>();
    for (const challenge of challenges) {
      let zoneId: string;
      let ch: DnsChallenge;
      try {
        ch = asDnsChallenge(challenge, who);
        throwIfAborted(signal, who);
        zoneId = await zoneFor(fqdn(ch.recordName), signal);
      } catch (error) {
        if (signal.aborted) throw error;
        failures.push({ challenge, error });
        continue;
      }
      const same = byZone.get(zoneId);
      if (same) same.push({ challenge, ch });
      else byZone.set(zoneId, [{ challenge, ch }]);
    }
    for (const [zoneId, chs] of byZone) {
      try {
        await inZone(zoneId, signal, () => removeInZone(zoneId, chs.map((c) => c.ch), signal));
      } catch (error) {
        if (signal.aborted) throw error;
        for (const { challenge } of chs) failures.push({ challenge, error });
      }
    }
    return failures;
  }

  /** Deletes the challenges' records of one zone, listing each name once; already gone is success. */
  async function removeInZone(zoneId: string, chs: DnsChallenge[], signal: AbortSignal): Promise<void> {
    const listed = new Map<string, DnsRecord[]>();
    for (const ch of chs) {
      const name = fqdn(ch.recordName);
      const key = `${ch.kind}\0${name}`;
      let records = listed.get(key);
      if (!records) listed.set(key, (records = await api().recordsAt(zoneId, name, ch.kind === "dns-01" ? "TXT" : undefined, signal)));
      for (const record of records.filter((r) => isOurs(r, ch))) {
        try {
          await api().deleteRecord(zoneId, record.id, signal);
        } catch (err) {
          // Deleted meanwhile (a 404, 81044 "Record does not exist."): already gone is success.
          if (err instanceof RotaError && err.code === "not_found") continue;
          throw err;
        }
      }
    }
  }

  const noReply = (recordName: string) =>
    new RotaError(
      "timeout",
      `${who}: creating ${recordName}: no reply in ${limits.replyMs / 1000} s; the request stays open (up to ${limits.settleMs / 1000} s) holding the zone's lock, and the challenge is removed once it has ended`,
    );

  return {
    name,
    propagation: cfg.propagation,
    supportedKinds: (): ChallengeKind[] => ["dns-01", "dns-cname"],
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkCloudflare(cfg, api, signal, checkCtx);
    },
    supports(challenge) {
      return supportsKind(this, challenge);
    },
    writesInFlight() {
      return writing.all();
    },
    async publish(challenge, signal) {
      /** Set once the create may be sent: a failure before it wrote nothing (unwritten.ts). */
      let sending = false;
      try {
        const ch = asDnsChallenge(challenge, who);
        throwIfAborted(signal, who);
        const zoneId = await zoneFor(fqdn(ch.recordName), signal);
        if (ch.kind === "dns-cname") {
          const at = await atCname(zoneId, ch, signal);
          if (at.ours.length > 0) return;
          if (at.all.length > 0) throw cnameConflict(who, fqdn(ch.recordName), at.all.map((r) => r.type));
        } else if ((await ours(zoneId, ch, signal)).length > 0) {
          return;
        }
        const rec = { name: fqdn(ch.recordName), ttl: ttlOf(ch) };
        const gaveUp = Promise.withResolvers<never>();
        gaveUp.promise.catch(() => {});
        const create = inZone(zoneId, signal, () => {
          sending = true;
          const write = ch.kind === "dns-cname" ? api().createCname(zoneId, { ...rec, content: ch.target }, signal) : api().createTxt(zoneId, { ...rec, content: ch.recordValue }, signal);
          writing.track(zoneId, write);
          noReplyWithin(write, limits.replyMs, () => noReply(rec.name)).catch(gaveUp.reject);
          return write;
        });
        // The caller is answered when its signal fires or the reply is late; the create, once sent, runs on to its end, holding the lock.
        await untilAborted(Promise.race([create, gaveUp.promise]), signal, who);
      } catch (err) {
        // A publish running beside this one made the same record first: the outcome is the one asked for.
        if (err instanceof RotaError && err.code === "identical_record") return;
        throw sending ? err : markUnwritten(err);
      }
    },
    async remove(challenge, signal) {
      const [failed] = await removeMany([challenge], signal);
      if (failed) throw failed.error;
    },
    removeMany,
  } satisfies PropagatingDcv & BatchRemovingDcv & Checkable & LateWrites;
}

/** The challenge's own record: its TXT value, or a CNAME to its target. */
function isOurs(r: DnsRecord, ch: DnsChallenge): boolean {
  return ch.kind === "dns-cname" ? r.type === "CNAME" && sameTarget(r.content, ch.target) : r.type === "TXT" && unquoted(r.content) === ch.recordValue;
}

/** Cloudflare names are fully qualified without the trailing dot. */
function fqdn(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

/**
 * Cloudflare may hand TXT content back in its zone-file form, wrapped in quotes; an ACME
 * value (base64url) never holds a quote, so stripping one pair compares like with like.
 */
function unquoted(content: string): string {
  return /^".*"$/.test(content) ? content.slice(1, -1) : content;
}

/** Cloudflare accepts 1 (automatic) or 60–86400 seconds (30 on Enterprise); 60 unless the challenge asks for more. */
function ttlOf(ch: Dns01Challenge | DnsCnameChallenge): number {
  return Math.min(86_400, Math.max(60, ch.ttl || 60));
}

function token(cfg: CloudflareConfig, who: string): string {
  const ref = cfg.apiToken;
  if (ref === undefined) throw new RotaError("secret", `${who}: api_token_file or api_token_env is required`, { noRetry: true });
  let value: string;
  try {
    value = readSecret(ref);
  } catch (err) {
    throw new RotaError("secret", `${who}: cannot read api_token from ${ref.from === "file" ? ref.path : ref.name}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`, { cause: err, noRetry: true });
  }
  if (value === "") throw new RotaError("secret", `${who}: api_token: ${ref.from === "file" ? `file ${ref.path}` : `environment variable ${ref.name}`} is empty`, { noRetry: true });
  return value;
}
