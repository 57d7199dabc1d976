/**
 * @module NamecheapDcv: answers DNS-01 with a TXT record, and `dns-cname` with a CNAME host,
 * through Namecheap's XML API.
 * setHosts replaces the whole zone, so every change is one read-modify-write held under a
 * per-domain lock file in `state_dir`: renewals run in child processes and two certs can
 * share a zone. Every host goes back exactly as read; only our TXT value or CNAME is added or
 * removed, and a read that is not a clean success writes nothing. A setHosts once sent is never
 * cut off, and the lock is held until its reply or its connection's end, even past the step's own
 * time limit: Namecheap may carry it out all the same, and the next writer (our own remove, the
 * journal sweep, another cert's publish) must read the zone it left.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "tldts";
import { readSecret } from "../../../config/secret.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { withLock } from "../../../lockfile.ts";
import type { BackendContext } from "../../context.ts";
import { supportsKind, type BatchRemovingDcv, type ChallengeKind, type Checkable, type DcvChallenge, type PropagatingDcv, type RemoveFailure } from "../../types.ts";
import { asDnsChallenge, cnameConflict, sameTarget, type DnsChallenge } from "../dns01.ts";
import { markUnwritten } from "../unwritten.ts";
import { noReplyWithin, UnfinishedWrites, untilAborted, WRITE_SETTLE_MS, type LateWrites } from "../unfinished.ts";
import { createNamecheapClient, type Host } from "./client.ts";
import type { NamecheapConfig } from "./config.ts";
import { CALL_TIMEOUT_MS } from "./transport.ts";

/** Long enough for another process's getHosts + setHosts, each bounded by its own request. */
const LOCK_WAIT_MS = 120_000;
/** Namecheap's smallest TTL. */
const MIN_TTL = 60;
/** What a setHosts is sent with: once sent, only its reply, its connection's end or `settleMs` ends it. */
const UNCANCELLED = new AbortController().signal;

/** How long a setHosts is waited for: the step's answer, and the request itself (unfinished.ts). */
export interface WriteLimits {
  /** The step fails after this without a reply. */
  replyMs: number;
  /** The request, and the domain's lock, are given up after this. */
  settleMs: number;
}

export const NAMECHEAP_WRITE_LIMITS: WriteLimits = { replyMs: CALL_TIMEOUT_MS, settleMs: WRITE_SETTLE_MS };

/** Where a record name lives at Namecheap: the registered domain (SLD + TLD) and the host name inside it. */
export interface Placement {
  sld: string;
  tld: string;
  host: string;
}

/**
 * Splits a record name with the Public Suffix List (ICANN section: Namecheap sells only
 * those), so `_acme-challenge.www.example.co.uk` is host `_acme-challenge.www` in `example` + `co.uk`.
 * tldts treats a TLD it does not know (`.test`) as one label, which is the fallback we want.
 */
export function placementOf(recordName: string): Placement {
  const name = recordName.toLowerCase().replace(/\.$/, "");
  const p = parse(name, { allowPrivateDomains: false });
  if (!p.domain || !p.domainWithoutSuffix || !p.publicSuffix) {
    throw new RotaError("bad_name", `namecheap: ${JSON.stringify(recordName)} is not under a registrable domain`, { noRetry: true });
  }
  const host = name === p.domain ? "@" : name.slice(0, name.length - p.domain.length - 1);
  return { sld: p.domainWithoutSuffix, tld: p.publicSuffix, host };
}

export function createNamecheapDcv(name: string, cfg: NamecheapConfig, ctx: BackendContext, limits = NAMECHEAP_WRITE_LIMITS): PropagatingDcv & BatchRemovingDcv & Checkable & LateWrites {
  const who = `namecheap ${name}`;
  /** This process's setHosts calls still open, by domain, whether their step still waits or not. */
  const writing = new UnfinishedWrites();
  // One folder for the type, not this section: two sections on one account may share a zone.
  const lockDir = join(ctx.stateDir, "namecheap");
  // The key is read at each change, so a rotated key file takes effect without a restart.
  const api = () =>
    createNamecheapClient(
      { apiUrl: cfg.apiUrl, apiUser: cfg.apiUser, username: cfg.username, apiKey: readSecret(cfg.apiKey), clientIp: cfg.clientIp },
      who,
    );

  const at = (host: Host, place: Placement) => host.name.toLowerCase() === place.host;
  /** Our record for the challenge: its TXT value, or a CNAME to its target (getHosts may add a trailing dot). */
  const ours = (host: Host, place: Placement, ch: DnsChallenge) =>
    at(host, place) &&
    (ch.kind === "dns-01" ? host.type.toUpperCase() === "TXT" && host.address === ch.recordValue : host.type.toUpperCase() === "CNAME" && sameTarget(host.address, ch.target));

  /**
   * One locked read-modify-write of `place`'s domain. `change` returns the new host list, or
   * null when the zone already is as wanted: then nothing is written (Namecheap rate-limits per
   * minute/hour/day). When `signal` fires, or the setHosts has no reply within `limits.replyMs`,
   * the caller is answered at once, but the setHosts runs on under the lock to its reply or its
   * connection's end (`limits.settleMs` at most): cut off, it could land after the next writer's
   * read, bringing back what that writer removed or dropping what it added. A failure before the
   * setHosts was sent is marked as such (unwritten.ts).
   */
  async function edit(place: Placement, signal: AbortSignal, change: (hosts: Host[]) => Host[] | null) {
    if (signal.aborted) throw markUnwritten(new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason }));
    const domain = `${place.sld}.${place.tld}`;
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    const lockPath = join(lockDir, `${domain}.lock`);
    const gaveUp = Promise.withResolvers<never>();
    gaveUp.promise.catch(() => {});
    let holding = false;
    let sent = false;
    const locked = withLock(
      lockPath,
      LOCK_WAIT_MS,
      who,
      async () => {
        holding = true;
        throwIfAborted(signal, who);
        const c = api();
        const zone = await c.getHosts(place.sld, place.tld, signal);
        const hosts = change(zone.hosts);
        if (hosts === null) return;
        // Checked with no await before the send: once a caller saw `sent` false after an abort, nothing is sent.
        throwIfAborted(signal, who);
        sent = true;
        const write = c.setHosts(place.sld, place.tld, { emailType: zone.emailType, hosts }, UNCANCELLED, limits.settleMs);
        writing.track(domain, write);
        noReplyWithin(write, limits.replyMs, () => noReply(domain)).catch(gaveUp.reject);
        await write;
        ctx.log.info(`${who}: ${domain}: ${hosts.length} hosts written`);
      },
      signal,
    );
    try {
      await untilAborted(Promise.race([locked, gaveUp.promise]), signal, who);
    } catch (err) {
      // Cut off while waiting for the lock: say what holds it, the operator's first question.
      const failure = !holding && signal.aborted ? busy(domain) : err;
      throw sent ? failure : markUnwritten(failure);
    }
  }

  /** The challenge as a DNS record and where it lives; what cannot be one wrote nothing. */
  function placed(challenge: DcvChallenge): { ch: DnsChallenge; place: Placement } {
    try {
      const ch = asDnsChallenge(challenge, who);
      return { ch, place: placementOf(ch.recordName) };
    } catch (err) {
      throw markUnwritten(err);
    }
  }

  /** Each domain's challenges in one read-modify-write: the journal's sweep hands a zone's stale records at once. */
  async function removeMany(challenges: DcvChallenge[], signal: AbortSignal): Promise<RemoveFailure[]> {
    const failures: RemoveFailure[] = [];
    const byDomain = new Map<string, { challenge: DcvChallenge; ch: DnsChallenge; place: Placement }[]>();
    for (const challenge of challenges) {
      let c;
      try {
        c = { challenge, ...placed(challenge) };
      } catch (error) {
        failures.push({ challenge, error });
        continue;
      }
      const domain = `${c.place.sld}.${c.place.tld}`;
      const same = byDomain.get(domain);
      if (same) same.push(c);
      else byDomain.set(domain, [c]);
    }
    for (const mine of byDomain.values()) {
      try {
        // Only our values: other `_acme-challenge` values may belong to another order or tool.
        await edit(mine[0]!.place, signal, (hosts) => {
          const kept = hosts.filter((h) => !mine.some(({ ch, place }) => ours(h, place, ch)));
          return kept.length === hosts.length ? null : kept;
        });
      } catch (error) {
        if (signal.aborted) throw error;
        for (const { challenge } of mine) failures.push({ challenge, error });
      }
    }
    return failures;
  }

  const noReply = (domain: string) =>
    new RotaError(
      "namecheap_unreachable",
      `${who}: namecheap.domains.dns.setHosts ${domain}: no reply within ${limits.replyMs / 1000} s; the request stays open (up to ${limits.settleMs / 1000} s) holding the domain's lock, and the challenge is removed once it has ended`,
    );

  const busy = (domain: string) =>
    new RotaError(
      "zone_busy",
      writing.running(domain)
        ? `${who}: ${domain}: a setHosts sent earlier still awaits Namecheap's reply; nothing read or written until it ends`
        : `${who}: ${domain}: another change to the domain (another renewal's, or a setHosts awaiting Namecheap's reply) still holds its lock; nothing read or written`,
    );

  return {
    name,
    propagation: cfg.propagation,
    supportedKinds: (): ChallengeKind[] => ["dns-01", "dns-cname"],
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkNamecheap(cfg, api, signal, checkCtx);
    },
    supports(challenge) {
      return supportsKind(this, challenge);
    },
    writesInFlight() {
      return writing.all();
    },
    async publish(challenge, signal) {
      const { ch, place } = placed(challenge);
      await edit(place, signal, (hosts) => {
        if (hosts.some((h) => ours(h, place, ch))) return null;
        const ttl = String(Math.max(MIN_TTL, ch.ttl));
        if (ch.kind === "dns-01") return [...hosts, { name: place.host, type: "TXT", address: ch.recordValue, mxPref: "10", ttl }];
        const others = hosts.filter((h) => at(h, place));
        if (others.length > 0) throw cnameConflict(who, ch.recordName, others.map((h) => h.type));
        return [...hosts, { name: place.host, type: "CNAME", address: ch.target, mxPref: "10", ttl }];
      });
    },
    async remove(challenge, signal) {
      const [failed] = await removeMany([challenge], signal);
      if (failed) throw failed.error;
    },
    removeMany,
  } satisfies PropagatingDcv & BatchRemovingDcv & Checkable & LateWrites;
}
