/**
 * @module HAProxy's self-check (`rota doctor`): `dir` writable by the service user, and
 * `show info` answered on each runtime API socket (a read; no transaction is opened).
 */
import type { Clock } from "../../../clock.ts";
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import { checkWritableDir } from "../filesystem/check.ts";
import { createHaproxyClient, endpointName, type Endpoint } from "./client.ts";
import type { HaproxyConfig } from "./config.ts";

const SHOW_INFO_TIMEOUT_MS = 5_000;

export async function checkHaproxy(cfg: HaproxyConfig, clock: Clock, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const out = [checkWritableDir(cfg.dir, ctx)];
  for (const endpoint of cfg.sockets) out.push(await showInfo(endpoint, clock, signal, ctx));
  if (cfg.sockets.length === 0) out.push({ status: "ok", message: "no runtime API socket: reload_command applies new bundles" });
  return out;
}

async function showInfo(endpoint: Endpoint, clock: Clock, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult> {
  const where = endpointName(endpoint);
  if (endpoint.kind === "tcp" && ctx.offline) return { status: "skip", message: `offline: ${where} not asked` };
  try {
    const reply = await createHaproxyClient(endpoint, { clock, timeoutMs: SHOW_INFO_TIMEOUT_MS, signal }).send("show info\n");
    const version = /^Version: (.+)$/m.exec(reply)?.[1];
    if (version === undefined) return { status: "fail", message: `${where}: show info gave no version: ${reply.trim().split("\n")[0] ?? "(empty reply)"}`, hint: "the socket needs `stats socket … level admin`" };
    return { status: "ok", message: `${where}: HAProxy ${version} answers` };
  } catch (err) {
    const hint = endpoint.kind === "unix" ? `is HAProxy running? its stats socket must be readable by ${ctx.user.name} (stats socket … mode 660 group ${ctx.user.name} level admin)` : "is HAProxy running, with this stats socket?";
    return { status: "fail", message: describeError(err), hint };
  }
}
