/**
 * @module HAProxy's self-check (`rota doctor`): `dir` writable by the service user, and
 * `show info` answered on each runtime API socket (a read; no transaction is opened), a unix
 * one open to the service user.
 */
import { statSync, type Stats } from "node:fs";
import type { Clock } from "../../../clock.ts";
import { describeError } from "../../../errors.ts";
import { groupName, groupsOf, modeText, permits, W } from "../../check-access.ts";
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
  // Doctor, as root, connects where the daemon, as the service user, may not: connect(2) on a unix socket needs write on it.
  if (endpoint.kind === "unix") {
    const st = statOrNull(endpoint.path);
    if (st && !permits(st, { uid: ctx.user.uid, groups: groupsOf(ctx.user) }, W, false)) {
      return {
        status: "fail",
        message: `${where} (owner ${st.uid}:${st.gid}, ${modeText(st.mode)}) cannot be opened by ${ctx.user.name}, so the daemon could not connect`,
        hint: `give the service user the socket: stats socket … mode 660 group ${groupName(ctx.user.gid)} level admin`,
      };
    }
  }
  try {
    const reply = await createHaproxyClient(endpoint, { clock, timeoutMs: SHOW_INFO_TIMEOUT_MS, signal }).send("show info\n");
    const version = /^Version: (.+)$/m.exec(reply)?.[1];
    if (version === undefined) return { status: "fail", message: `${where}: show info gave no version: ${reply.trim().split("\n")[0] ?? "(empty reply)"}`, hint: "the socket needs `stats socket … level admin`" };
    return { status: "ok", message: `${where}: HAProxy ${version} answers` };
  } catch (err) {
    const hint = endpoint.kind === "unix" ? `is HAProxy running? its stats socket must be readable by ${ctx.user.name} (stats socket … mode 660 group ${groupName(ctx.user.gid)} level admin)` : "is HAProxy running, with this stats socket?";
    return { status: "fail", message: describeError(err), hint };
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    // Missing: connecting says so, with its own hint.
    return null;
  }
}
