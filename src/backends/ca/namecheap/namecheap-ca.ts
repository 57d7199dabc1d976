/**
 * @module NamecheapCa: Sectigo certificates bought at Namecheap, renewed by reissue (or a first
 * activation) and validated by a DNS CNAME (`dns-cname`). rota never buys: the cert's
 * `namecheap_certificate_id` names a certificate the user holds, and a reissue gives it a new id
 * (the old one turns `replaced`, `ReplacedBy` the new), which the state file follows (state.ts).
 * A request runs across renewals when it must: a timeout or a stop keeps it pending, and the next
 * submit resumes it instead of asking again.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readSecret } from "../../../config/secret.ts";
import { parseCert } from "../../../crypto/x509.ts";
import { describeError, isAbort, RotaError } from "../../../errors.ts";
import { sleepOn } from "../../../sleep.ts";
import type { BackendContext } from "../../context.ts";
import type { CABackend, Checkable, CheckResult, DcvChallenge, Issued } from "../../types.ts";
import { orderChain } from "./chain.ts";
import { apiErrorCode, createSslClient, TRANSIENT_CODES, type SslClient } from "./client.ts";
import type { NamecheapCaConfig, NamecheapCertOptions } from "./config.ts";
import { actionFor, MAX_HOPS, planUsedUp } from "./plan.ts";
import type { DcvRecord, SslInfo } from "./replies.ts";
import { StateFile, type CertState } from "./state.ts";

/** Sectigo's DCV CNAMEs are checked within minutes; a short TTL keeps a stale one from lingering. */
const CNAME_TTL = 60;
/** The poll (issue 13 §4): first after 2 s, each gap ×1.5, at most 60 s: far below Namecheap's per-minute limits. */
const FIRST_GAP_MS = 2_000;
const MAX_GAP_MS = 60_000;
/** Transient faults in a row a poll rides out before giving up. */
const TOLERATED_TRANSIENT = 3;
/** Namecheap's answer to resendApproverEmail when there is nothing to resend; harmless here. */
const NOTHING_TO_RESEND = "2011331";

/** The order `submit` hands `awaitIssuance`. */
interface Order {
  certId: string;
  configuredId: number;
  certificateId: number;
  /** Issued while rota was away: no re-check to ask for. */
  alreadyActive: boolean;
}

export function createNamecheapCa(name: string, cfg: NamecheapCaConfig, ctx: BackendContext): CABackend & Checkable {
  const who = `namecheap ${name}`;
  const dir = join(ctx.stateDir, "namecheap", name);
  // The key is read at each renewal, so a rotated key file takes effect without a restart.
  const api = (): SslClient =>
    createSslClient({ apiUrl: cfg.apiUrl, apiUser: cfg.apiUser, username: cfg.username, apiKey: apiKey(cfg, who), clientIp: cfg.clientIp }, who);
  const cancelled = (signal: AbortSignal) => new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });

  /** From the id rota knows, through `ReplacedBy` to the certificate that stands now. */
  async function follow(start: number, client: SslClient, signal: AbortSignal): Promise<{ id: number; info: SslInfo }> {
    const seen: number[] = [];
    let id = start;
    for (;;) {
      const info = await client.getInfo(id, signal);
      if (info.status.toLowerCase() !== "replaced") return { id, info };
      seen.push(id);
      const next = info.replacedBy;
      const path = seen.join(" → ");
      if (next === null) throw new RotaError("namecheap_replaced", `${who}: certificate ${id} is replaced but names no ReplacedBy (followed ${path})`, { noRetry: true });
      if (seen.includes(next)) throw new RotaError("namecheap_replaced", `${who}: ReplacedBy loops back to certificate ${next} (${path} → ${next})`, { noRetry: true });
      if (seen.length >= MAX_HOPS) throw new RotaError("namecheap_replaced", `${who}: more than ${MAX_HOPS} ReplacedBy links from certificate ${start}`, { noRetry: true });
      id = next;
    }
  }

  return {
    name,

    async submit(req, signal) {
      const options = req.certOptions as NamecheapCertOptions | undefined;
      if (!options) throw new RotaError("no_certificate_id", `${who}: cert ${req.certId} names no namecheap_certificate_id`, { noRetry: true });
      const file = new StateFile(dir, req.certId, who);
      const state = file.load(options.certificateId);
      if (state.plan_used_up !== undefined) {
        throw new RotaError(
          "namecheap_plan_used_up",
          `${who}: the Namecheap plan behind certificate ${state.plan_used_up} is used up (the last reissue gained no time); renew it at Namecheap: rota never buys`,
          { noRetry: true },
        );
      }
      const client = api();
      const { id, info } = await follow(state.current_id, client, signal);
      if (id !== state.current_id) file.save({ ...state, current_id: id });
      state.current_id = id;
      const action = actionFor(id, info, state.pending, req.certId);
      const order: Order = { certId: req.certId, configuredId: options.certificateId, certificateId: id, alreadyActive: false };
      switch (action.do) {
        case "refuse":
          throw new RotaError("namecheap_refused", `${who}: ${action.message}`, { noRetry: true });
        case "collect":
          return { order: { ...order, alreadyActive: true }, challenges: [], summary: `certificate ${id} was issued while rota was away; nothing to publish` };
        case "resume": {
          const challenges = challengesOf(action.records);
          return { order, challenges, summary: `resumed the request pending on certificate ${id}; ${cnames(challenges.length)} to publish` };
        }
        case "activate":
        case "reissue": {
          const previous = action.do === "reissue" && info.certificates ? (await parseCert(info.certificates.leafPem).catch(() => null))?.notAfter : undefined;
          state.pending = {
            from_id: id,
            command: action.do,
            csr: req.csrPem,
            started_at: ctx.clock.now().toISOString(),
            ...(previous ? { previous_not_after: previous.toISOString() } : {}),
          };
          file.save(state);
          const request = { certificateId: id, csrPem: req.csrPem, adminEmail: cfg.adminEmail, webServerType: cfg.webServerType, domains: req.domains };
          let reply;
          try {
            reply = action.do === "reissue" ? await client.reissue(request, signal) : await client.activate(request, signal);
          } catch (err) {
            // Namecheap answered with an error: no request was started, so none is pending. Any
            // other failure may have lost the reply of a request that was, and stays on record.
            if (err instanceof RotaError && /^namecheap_\d+$/.test(err.code)) file.save({ ...state, pending: null });
            throw err;
          }
          state.pending = { ...state.pending, certificate_id: reply.certificateId, records: reply.records };
          state.current_id = reply.certificateId;
          file.save(state);
          if (reply.unusable !== null) throw new RotaError("namecheap_no_dcv", `${who}: namecheap.ssl.${action.do}: ${reply.unusable}`);
          const challenges = challengesOf(reply.records);
          const done = action.do === "reissue" ? `reissued certificate ${id} (${info.status}) as ${reply.certificateId}` : `activated certificate ${id} (${info.status})`;
          return { order: { ...order, certificateId: reply.certificateId }, challenges, summary: `${done}; ${cnames(challenges.length)} to publish` };
        }
      }
    },

    async awaitIssuance(order, signal): Promise<Issued> {
      const o = order as Order;
      const id = o.certificateId;
      const client = api();
      const started = ctx.clock.now().getTime();
      let recheck = "";
      if (!o.alreadyActive) {
        try {
          await client.resendApproverEmail(id, signal);
          recheck = "; asked Sectigo to re-check once";
        } catch (err) {
          if (isAbort(err)) throw cancelled(signal);
          // Only a nudge: Sectigo re-checks on its own schedule too, so the poll goes on.
          if (err instanceof RotaError && err.code === apiErrorCode(NOTHING_TO_RESEND)) recheck = `; Sectigo had nothing to re-check (error ${NOTHING_TO_RESEND})`;
          else if (err instanceof RotaError && TRANSIENT_CODES.has(err.code)) recheck = `; could not ask Sectigo to re-check (${describeError(err)})`;
          else throw err;
        }
      }
      const deadline = started + cfg.issuanceTimeoutSeconds * 1000;
      let gap = FIRST_GAP_MS;
      let checks = 0;
      let transient = 0;
      let status = "purchased";
      for (;;) {
        const wait = o.alreadyActive && checks === 0 ? 0 : Math.min(gap, deadline - ctx.clock.now().getTime());
        if (wait > 0) {
          await sleepOn(ctx.clock, wait, signal).catch(() => {
            throw cancelled(signal);
          });
          gap = Math.min(gap * 1.5, MAX_GAP_MS);
        }
        checks++;
        let info: SslInfo | null = null;
        try {
          info = await client.getInfo(id, signal);
          transient = 0;
        } catch (err) {
          if (isAbort(err)) throw cancelled(signal);
          if (!(err instanceof RotaError && TRANSIENT_CODES.has(err.code)) || ++transient > TOLERATED_TRANSIENT) throw err;
          ctx.log.warn(`${who}: certificate ${id}: ${describeError(err)} (${transient} in a row; polling on)`);
        }
        if (info) {
          status = info.status;
          const s = status.toLowerCase();
          if (s === "active") {
            if (!info.certificates) throw new RotaError("namecheap_no_certificate", `${who}: certificate ${id} is active but the reply carries no certificate (Certificates@CertificateReturned is not true)`);
            const seconds = Math.round((ctx.clock.now().getTime() - started) / 1000);
            return { ...(await collect(o, info.certificates)), note: `certificate ${id} active after ${checks} check${checks === 1 ? "" : "s"} (${seconds} s)${recheck}` };
          }
          if (s !== "purchased") {
            throw new RotaError("namecheap_refused", `${who}: certificate ${id} turned ${info.status} (${info.statusDescription || "no description"}) while rota waited for it`, { noRetry: true });
          }
        }
        if (ctx.clock.now().getTime() >= deadline) {
          throw new RotaError(
            "timeout",
            `${who}: certificate ${id} still ${status} after ${cfg.issuanceTimeoutSeconds} s; the request stays open at Namecheap and the next renewal resumes it`,
          );
        }
      }
    },

    async check(signal, cctx): Promise<CheckResult[]> {
      if (cctx.offline) return [{ status: "skip", message: `${who}: offline: Namecheap's SSL API not asked` }];
      let files: string[];
      try {
        files = readdirSync(dir).filter((f) => f.endsWith(".json"));
      } catch {
        files = [];
      }
      if (files.length === 0) return [{ status: "skip", message: `${who}: no cert has been renewed through this CA yet; nothing to ask Namecheap about` }];
      let client: SslClient;
      try {
        client = api();
      } catch (err) {
        return [{ status: "fail", message: describeError(err), hint: "api_key_file or api_key_env must hold the key shown at Profile → Tools → API Access" }];
      }
      const out: CheckResult[] = [];
      for (const f of files) {
        const certId = f.slice(0, -".json".length);
        let state: CertState | null;
        try {
          state = new StateFile(dir, certId, who).read();
        } catch (err) {
          out.push({ status: "fail", message: describeError(err) });
          continue;
        }
        if (state) out.push(await checkOne(client, certId, state.current_id, signal));
      }
      return out;
    },
  };

  async function checkOne(client: SslClient, certId: string, id: number, signal: AbortSignal): Promise<CheckResult> {
    let info: SslInfo;
    try {
      info = await client.getInfo(id, signal);
    } catch (err) {
      const hint =
        err instanceof RotaError && err.code === apiErrorCode("1011150")
          ? `add ${cfg.clientIp} at Profile → Tools → API Access → Whitelisted IPs`
          : err instanceof RotaError && err.code === apiErrorCode("1011102")
            ? "check api_user, username and the API key; the API must be enabled for the account"
            : undefined;
      return { status: "fail", message: `${describeError(err)} (cert ${certId}, certificate ${id})`, ...(hint ? { hint } : {}) };
    }
    const s = info.status.toLowerCase();
    const what = `${who}: cert ${certId}: certificate ${id} is ${info.status}${info.statusDescription ? ` (${info.statusDescription})` : ""}`;
    if (s === "active") return { status: "ok", message: what };
    if (s === "purchased" || s === "replaced") return { status: "warn", message: what, hint: s === "replaced" ? "the next renewal follows ReplacedBy" : "a request is waiting for its DNS validation" };
    return { status: "fail", message: what, hint: "rota can neither activate nor reissue a certificate in this state; see it at Namecheap" };
  }

  /** The issued certificate: the chain put in order, the state moved on to it. */
  async function collect(o: Order, certs: NonNullable<SslInfo["certificates"]>): Promise<Issued> {
    const chainPem = await orderChain(certs.leafPem, certs.caPems, who, o.certificateId);
    const file = new StateFile(dir, o.certId, who);
    const state = file.load(o.configuredId);
    const leaf = await parseCert(certs.leafPem);
    const previous = state.pending?.previous_not_after;
    const usedUp = planUsedUp(leaf, previous ? new Date(previous) : null);
    file.save({ configured_id: o.configuredId, current_id: o.certificateId, pending: null, ...(usedUp ? { plan_used_up: o.certificateId } : {}) });
    if (usedUp) ctx.log.warn(`${who}: certificate ${o.certificateId} ends ${leaf.notAfter.toISOString()}, no later than the one it replaced: the Namecheap plan is used up`);
    return { leafPem: certs.leafPem, chainPem };
  }
}

/** One `dns-cname` challenge per distinct (HostName, Target): a wildcard and its base share one. */
export function challengesOf(records: DcvRecord[]): DcvChallenge[] {
  const out: DcvChallenge[] = [];
  for (const r of records) {
    const base = r.domain.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase();
    // DNS names compare case-insensitively; rota writes and asks for them in lower case (Sectigo's hash comes in capitals).
    const host = r.hostName.replace(/\.$/, "").toLowerCase();
    // Namecheap gives the full name; a bare label is taken relative to the name it proves.
    const recordName = host.endsWith(`.${base}`) ? host : `${host}.${base}`;
    const target = r.target.replace(/\.$/, "").toLowerCase();
    if (out.some((c) => c.kind === "dns-cname" && c.recordName === recordName && c.target === target)) continue;
    out.push({ kind: "dns-cname", recordName, target, ttl: CNAME_TTL });
  }
  return out;
}

function cnames(n: number): string {
  return `${n} CNAME${n === 1 ? "" : "s"}`;
}

function apiKey(cfg: NamecheapCaConfig, who: string): string {
  const ref = cfg.apiKey;
  let value: string;
  try {
    value = readSecret(ref);
  } catch (err) {
    throw new RotaError("secret", `${who}: cannot read api_key from ${ref.from === "file" ? ref.path : ref.name}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`, { cause: err, noRetry: true });
  }
  if (value === "") throw new RotaError("secret", `${who}: api_key: ${ref.from === "file" ? `file ${ref.path}` : `environment variable ${ref.name}`} is empty`, { noRetry: true });
  return value;
}
