/** @module Namecheap DNS's self-check (`rota doctor`): one authenticated read, `namecheap.domains.getList`. Nothing is written. */
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import type { NamecheapClient } from "./client.ts";
import type { NamecheapConfig } from "./config.ts";

export async function checkNamecheap(cfg: NamecheapConfig, api: () => NamecheapClient, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  if (ctx.offline) return [{ status: "skip", message: `offline: ${cfg.apiUrl} not contacted` }];
  try {
    const count = await api().domainCount(signal);
    return [{ status: "ok", message: `the API accepts user ${cfg.apiUser} from client_ip ${cfg.clientIp} (${count} domain(s))` }];
  } catch (err) {
    return [{ status: "fail", message: describeError(err), hint: "check api_user, username, the API key and that client_ip is on the account's API allow-list" }];
  }
}
