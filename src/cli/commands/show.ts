/** @module `rota show CERT`: one cert in detail, as `GET /api/certs/:id` has it. */
import { defineCommand } from "citty";
import type { CertDetailJson, TargetJson } from "../../api/json.ts";
import { systemClock } from "../../clock.ts";
import { ApiClient } from "../client.ts";
import { CliExit, EXIT } from "../exit.ts";
import { bothForms, relativeTime } from "../human.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

const SOURCE = { cert: "set on the cert", daemon: "[daemon] renew_threshold_days" } as const;
const WHY: Record<string, string> = { ari: "CA's ARI window", lifetime: "lifetime rule", threshold: "threshold" };

/** "in 59 d (2030-03-01T00:00:00.000Z)", or "-". */
function when(iso: string | null, now: Date): string {
  return iso === null ? "-" : `${relativeTime(new Date(iso), now)} (${iso})`;
}

/** A target by name, with what it serves at the last look: "files (serves 0abc, the newest)". */
function targetText(t: TargetJson): string {
  if (t.error) return `${t.name} (${t.error})`;
  if (t.serial) return `${t.name} (serves ${t.serial}, ${t.matches_latest ? "the newest" : "not the newest"})`;
  return t.name;
}

/** When it renews by time and by which rule; what work it needs now when that comes first. */
function renewsText(d: CertDetailJson, now: Date): string {
  if (d.renew_at === null) return d.renew_reason ? `- (needs work now: ${d.renew_reason})` : "-";
  const rule = WHY[d.renew_reason ?? ""];
  return rule ? `${when(d.renew_at, now)}, by the ${rule}` : `${when(d.renew_at, now)}; needs work now: ${d.renew_reason}`;
}

/** The detail as labelled lines; times relative to `now` with the ISO time beside them. */
export function showText(d: CertDetailJson, now: Date): string {
  const issued = d.latest_issued;
  const last = d.last_renewal;
  const rows: Array<[string, string]> = [
    ["domains", bothForms(d.domains, d.domains_unicode).join(", ")],
    ["expires", when(d.not_after, now)],
    ["renews", renewsText(d, now)],
    ["threshold", d.renew_threshold_days === null || d.renew_threshold_source === null ? "- (lifetime rule)" : `${d.renew_threshold_days} days before expiry (${SOURCE[d.renew_threshold_source]})`],
    ["reason", d.reason ?? "-"],
    ["next check", when(d.next_check, now)],
    ["retry at", when(d.retry_at, now)],
    ["ca", d.ca],
    ["dcv", d.dcv ?? "-"],
    ["install", d.targets.length > 0 ? d.targets.map(targetText).join(", ") : d.install.join(", ")],
    ["key type", d.key_type],
    ["serial", issued ? `${issued.serial}, issued ${when(issued.issued_at, now)}` : "- (none issued yet)"],
    ["last renewal", last ? `${last.status}, ${last.trigger}, started ${when(last.started_at, now)}, renewal ${last.id}` : "-"],
  ];
  if (d.halted_at) rows.push(["halted", `${when(d.halted_at, now)}, after ${d.authz_failures} authorization failures in a row: fix its DCV, then rota renew ${d.id} --force`]);
  if (last?.error) rows.push(["last error", last.error]);
  if (d.look_error) rows.push(["cannot read", d.look_error]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [`${d.id}: ${d.status}`, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join("\n");
}

export default defineCommand({
  meta: { name: "show", description: "Show one certificate in detail: status, expiry, threshold, targets, latest serial, last renewal" },
  args: {
    cert: { type: "positional", required: true, description: "Cert id" },
    json: { type: "boolean", description: "Print the API's JSON object" },
    ...connectionArgs,
  },
  async run({ args }) {
    const { status, body } = await new ApiClient(endpoint(args)).call<CertDetailJson>("GET", `/api/certs/${encodeURIComponent(args.cert)}`);
    if (status === 404) throw new CliExit(EXIT.unknownCert, `rota: unknown cert id ${JSON.stringify(args.cert)}`);
    if (args.json) return sayJson(body);
    say(showText(body, systemClock.now()));
  },
});
