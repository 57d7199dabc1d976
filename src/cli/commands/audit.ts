/** @module `rota audit`: renewals newest first, with their steps. */
import { defineCommand } from "citty";
import { MAX_RENEWALS_LIMIT, type RenewalJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { stepLine } from "../table.ts";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";


export default defineCommand({
  meta: { name: "audit", description: "Show the audit trail of renewals, newest first" },
  args: {
    cert: { type: "positional", required: false, description: "Only this cert id" },
    limit: { type: "string", description: `How many renewals, 1 to ${MAX_RENEWALS_LIMIT} (default 20)` },
    json: { type: "boolean", description: "Print a JSON array" },
    ...connectionArgs,
  },
  async run({ args }) {
    const limit = args.limit === undefined ? 20 : /^\d+$/.test(args.limit) ? Number(args.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_RENEWALS_LIMIT)) throw new CliExit(EXIT.usage, `rota: --limit must be a whole number from 1 to ${MAX_RENEWALS_LIMIT}, not ${JSON.stringify(args.limit)}`);
    const q = new URLSearchParams({ limit: String(limit) });
    if (args.cert) q.set("cert", args.cert);
    const { status, body } = await new ApiClient(endpoint(args)).call<RenewalJson[] | { error: string }>("GET", `/api/renewals?${q}`);
    if (status === 404) throw new CliExit(EXIT.unknownCert, `rota: unknown cert id ${JSON.stringify(args.cert)}`);
    if (!Array.isArray(body)) throw new CliExit(EXIT.failed, `rota: ${body.error}`);
    if (args.json) return sayJson(body);
    if (body.length === 0) return say("no renewals yet");
    for (const r of body) {
      say(`${r.started_at}  ${r.cert_id}  ${r.status}  (${r.trigger}${r.install_only ? ", install only" : ""}, renewal ${r.id}${r.node ? `, on ${r.node}` : ""})${r.reason ? `\n  reason: ${r.reason}` : ""}${r.error ? `\n  error: ${r.error}` : ""}`);
      for (const e of r.events) say(stepLine(e));
    }
  },
});
