/**
 * @module DsmInstall: a Synology NAS's certificate, replaced in place through the DSM Web
 * API (issue 14). The entry keeps its id, so the services bound to it (DSM's web UI, Photos,
 * a reverse proxy) serve the new certificate without being touched. After an import DSM
 * restarts its web server: the read-back retries refused connections for up to 30 s.
 * DSM cannot return a certificate without its key, so what it serves is read from the copy
 * kept at the last read-back, confirmed by DSM's list (its id and `valid_till`).
 */
import { X509Certificate } from "node:crypto";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { sleepOn } from "../../../sleep.ts";
import type { BackendContext } from "../../context.ts";
import type { CheckContext, Checkable, InstallRequest, ReadableInstall, ReadBack } from "../../types.ts";
import { isConnectionError, type DsmApis, type DsmCertificate, type DsmClient, type DsmSession } from "./client.ts";
import type { DsmConfig } from "./config.ts";
import { pickEntry } from "./pick.ts";
import { blockedError, withSession, type SessionDeps } from "./session.ts";
import { DsmState } from "./state.ts";

/** DSM's web server is back within seconds of an import; 30 s covers a slow NAS. */
const RESTART_WAIT_MS = 30_000;
const RESTART_POLL_MS = 500;

export function createDsmInstall(name: string, cfg: DsmConfig, ctx: BackendContext): ReadableInstall & Checkable {
  const who = `dsm ${name}`;
  const state = new DsmState(ctx.stateDir, name, who);
  if (cfg.insecureSkipVerify) ctx.log.warn(`${who}: TLS certificate of ${cfg.url} is NOT verified (insecure_skip_verify = true)`);
  const deps: SessionDeps = { name, cfg, state, clock: ctx.clock, log: ctx.log, onLatch: (a) => ctx.emit({ type: "target.action_required", target: name, ...a, at: ctx.clock.now() }) };

  async function install(req: InstallRequest, signal: AbortSignal): Promise<void> {
    throwIfAborted(signal, who);
    const leaf = parseLeaf(req.leafPem, who);
    const kept = state.installed();
    await withSession(deps, req.certId, signal, async (apis, s, client) => {
      const entry = pickEntry(await client.list(apis, s, signal), cfg, kept?.record.id, who);
      const id = await client.import(
        apis,
        s,
        {
          keyPem: req.privateKeyPem,
          certPem: req.leafPem,
          chainPem: req.chainPem,
          id: entry?.id ?? "",
          desc: cfg.description ?? entry?.desc ?? "",
          // Only a default entry stays default: sending it for another would move every unbound service to it.
          asDefault: entry?.is_default === true || cfg.makeDefault,
        },
        signal,
      );
      const listed = await listAfterRestart(client, apis, s, signal);
      const now = listed.find((c) => c.id === id);
      if (!now) throw new RotaError("install_failed", `${who}: DSM accepted the import as id ${id}, but does not list it`);
      const till = parseValidTill(now.valid_till, who);
      if (till !== leaf.validToDate.getTime()) {
        throw new RotaError("install_failed", `${who}: DSM lists id ${id} valid till ${now.valid_till}, the imported certificate ends ${leaf.validTo}`);
      }
      state.saveInstalled({ cert_id: req.certId, id, serial: leaf.serialNumber.toLowerCase(), not_after: leaf.validToDate.toISOString() }, req.leafPem);
    });
  }

  /** DSM restarts its web server after an import: refused connections are retried for a while. */
  async function listAfterRestart(client: DsmClient, apis: DsmApis, s: DsmSession, signal: AbortSignal): Promise<DsmCertificate[]> {
    const until = ctx.clock.now().getTime() + RESTART_WAIT_MS;
    for (;;) {
      try {
        return await client.list(apis, s, signal);
      } catch (err) {
        if (!isConnectionError(err) || ctx.clock.now().getTime() >= until) throw err;
      }
      await sleepOn(ctx.clock, RESTART_POLL_MS, signal).catch(() => throwIfAborted(signal, who));
    }
  }

  async function readBack(certId: string, signal: AbortSignal): Promise<ReadBack> {
    throwIfAborted(signal, who);
    // Latched: a throw, never "absent", or the scheduler would install into a target it cannot reach.
    const blocked = blockedError(deps);
    if (blocked) throw blocked;
    const kept = state.installed();
    if (kept === null || kept.record.cert_id !== certId) return { state: "absent" };
    if (cfg.certificateId !== undefined && kept.record.id !== cfg.certificateId) return { state: "absent" };
    const entry = await withSession(deps, certId, signal, async (apis, s, client) => (await client.list(apis, s, signal)).find((c) => c.id === kept.record.id));
    if (!entry) return { state: "absent" };
    const till = parseValidTill(entry.valid_till, who);
    const expected = Date.parse(kept.record.not_after);
    if (till !== expected) {
      return { state: "damaged", reason: `DSM's certificate ${entry.id} is valid till ${entry.valid_till}, not ${new Date(expected).toUTCString()} as installed` };
    }
    return { state: "present", leafPem: kept.leafPem };
  }

  async function check(signal: AbortSignal, checkCtx: CheckContext) {
    return (await import("./check.ts")).checkDsm(name, cfg, { state, clock: ctx.clock, log: ctx.log }, signal, checkCtx);
  }

  return { name, install, readBack, check } satisfies ReadableInstall & Checkable;
}

function parseLeaf(pem: string, who: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new RotaError("install_failed", `${who}: the certificate cannot be parsed: ${(err as Error).message}`, { cause: err, noRetry: true });
  }
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** OpenSSL's `Jun  1 23:59:59 2030 GMT`, the form DSM lists, in ms since the epoch. */
export function parseValidTill(text: unknown, who: string): number {
  const m = typeof text === "string" ? /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/.exec(text.trim()) : null;
  const month = m ? MONTHS.indexOf(m[1]!) : -1;
  if (!m || month === -1) throw new RotaError("read_failed", `${who}: DSM lists valid_till ${JSON.stringify(text)}, which does not parse`);
  return Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
}
