/**
 * @module The webhook's self-check (`rota doctor`): its secrets readable, and one HEAD to the
 * URL with the sink's TLS trust. Any HTTP answer means reachable (a receiver may refuse HEAD,
 * or a request without its token); no alert is sent. The URL's path and query are never shown.
 */
import type { Clock } from "../../../clock.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import type { WebhookConfig } from "./config.ts";
import { networkError, redact, secretValue } from "./webhook.ts";

export async function checkWebhook(who: string, cfg: WebhookConfig, ca: string | undefined, clock: Clock, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const target = new URL(cfg.url);
  const out: CheckResult[] = [];
  try {
    if (cfg.bearerToken) secretValue(cfg.bearerToken, "bearer_token", who);
    if (cfg.secret) secretValue(cfg.secret, "secret", who);
  } catch (err) {
    // Its own line says which file; the cause would only repeat the errno.
    out.push({ status: "fail", message: (err as Error).message });
  }
  if (ctx.offline) return [...out, { status: "skip", message: `offline: ${target.origin} not contacted` }];
  const hidden = [target.pathname.length > 1 ? target.pathname : undefined, target.search || undefined];
  const timer = new AbortController();
  const cancel = clock.setTimeout(() => timer.abort(), cfg.timeoutSeconds * 1000);
  try {
    const res = await fetch(target, { method: "HEAD", redirect: "manual", signal: AbortSignal.any([signal, timer.signal]), ...(ca !== undefined && { tls: { ca } }) });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 300 && res.status < 400) {
      return [...out, { status: "warn", message: `${target.origin} answers HTTP ${res.status}, a redirect, which alerts do not follow`, hint: "set url to where it points" }];
    }
    return [...out, { status: "ok", message: `${target.origin} reachable (HTTP ${res.status} to HEAD)` }];
  } catch (err) {
    if (timer.signal.aborted) return [...out, { status: "fail", message: `${who}: ${target.origin}: no reply within ${cfg.timeoutSeconds} s` }];
    const hint = cfg.caBundle === undefined ? "a receiver with a private CA needs ca_bundle" : "check url, the network and ca_bundle";
    return [...out, { status: "fail", message: networkError(err, `${who}: ${target.origin}`, (s) => redact(s, hidden)).message, hint }];
  } finally {
    cancel();
  }
}
