/** @module `rota alerts`: the alert delivery log, newest first. */
import { defineCommand } from "citty";
import { MAX_ALERTS_LIMIT, type DeliveryJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { CliExit, EXIT } from "../exit.ts";
import { table } from "../table.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

export default defineCommand({
  meta: { name: "alerts", description: "Show alert delivery attempts, newest first" },
  args: {
    limit: { type: "string", description: `How many attempts, 1 to ${MAX_ALERTS_LIMIT} (default 50)` },
    json: { type: "boolean", description: "Print a JSON array" },
    ...connectionArgs,
  },
  async run({ args }) {
    const limit = args.limit === undefined ? 50 : /^\d+$/.test(args.limit) ? Number(args.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_ALERTS_LIMIT)) throw new CliExit(EXIT.usage, `rota: --limit must be a whole number from 1 to ${MAX_ALERTS_LIMIT}, not ${JSON.stringify(args.limit)}`);
    const { body } = await new ApiClient(endpoint(args)).call<DeliveryJson[]>("GET", `/api/alerts?limit=${limit}`);
    if (args.json) return sayJson(body);
    if (body.length === 0) return say("no alerts sent yet");
    const rows = body.map((d) => [d.at, d.sink, d.event, d.cert_id ?? "-", `${d.outcome} (attempt ${d.attempts})`, d.error ?? ""]);
    say(table(["AT", "SINK", "EVENT", "CERT", "OUTCOME", "ERROR"], rows));
  },
});
