/**
 * @module Cloudflare's self-check (`rota doctor`): one authenticated read. With `zone_id`, a
 * TXT listing in that zone (the DNS:Edit the token needs); without, the zones it can see
 * (Zone:Read, which finding a zone needs). Nothing is written.
 */
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import type { CloudflareClient } from "./client.ts";
import type { CloudflareConfig } from "./config.ts";

export async function checkCloudflare(cfg: CloudflareConfig, api: () => CloudflareClient, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  if (ctx.offline) return [{ status: "skip", message: `offline: ${cfg.apiUrl} not contacted` }];
  const hint = "the API token needs Zone:Read (unless zone_id is set) and DNS:Edit on the zones of its certs";
  try {
    if (cfg.zoneId !== undefined) {
      await api().someTxt(cfg.zoneId, signal);
      return [{ status: "ok", message: `the API token reads DNS records of zone ${cfg.zoneId}` }];
    }
    const zones = await api().zones(signal);
    if (zones.length === 0) return [{ status: "fail", message: "the API token sees no zone", hint }];
    const names = zones.map((z) => z.name);
    return [{ status: "ok", message: `the API token sees ${zones.length} zone(s): ${names.slice(0, 5).join(", ")}${names.length > 5 ? ", …" : ""}` }];
  } catch (err) {
    return [{ status: "fail", message: describeError(err), hint }];
  }
}
