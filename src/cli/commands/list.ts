/** @module `rota list`: every configured cert with its status, expiry, when and why it renews, and when the daemon looks next. */
import { defineCommand } from "citty";
import { systemClock } from "../../clock.ts";
import type { CertJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { bothForms, fitDomains, timeCell } from "../human.ts";
import { table } from "../table.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

const HEADER = ["ID", "STATUS", "DAYS LEFT", "NOT AFTER", "RENEW AT", "WHY", "NEXT CHECK", "DOMAINS"];
/** Never cut the domains narrower than this, however narrow the terminal. */
const MIN_DOMAINS_WIDTH = 12;

export default defineCommand({
  meta: { name: "list", description: "List certificates with status, expiry, renewal moment and next check (times relative to now)" },
  args: {
    ...connectionArgs,
    json: { type: "boolean", description: "Print a JSON array" },
    utc: { type: "boolean", description: "Print times as ISO 8601 UTC instead of relative to now" },
  },
  async run({ args }) {
    const { body } = await new ApiClient(endpoint(args)).call<CertJson[]>("GET", "/api/certs");
    if (args.json) return sayJson(body);
    const now = systemClock.now();
    const utc = !!args.utc;
    const rows = body.map((c) => [
      c.id,
      c.status,
      c.days_left === null ? "-" : c.days_left.toFixed(2),
      timeCell(c.not_after, now, utc),
      timeCell(c.renew_at, now, utc),
      c.renew_reason ?? "-",
      timeCell(c.next_check, now, utc),
    ]);
    // Off a terminal (a pipe, a file) nothing is cut: scripts get every name. A terminal of unknown size reports 0.
    const columns = process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : undefined;
    const width = columns === undefined ? undefined : Math.max(MIN_DOMAINS_WIDTH, columns - leadingWidth(rows));
    say(table(HEADER, rows.map((r, i) => [...r, fitDomains(bothForms(body[i]!.domains, body[i]!.domains_unicode), width)])));
  },
});

/** Where the last column starts: every other column at its widest, two spaces after each. */
function leadingWidth(rows: string[][]): number {
  return HEADER.slice(0, -1).reduce((sum, h, i) => sum + Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2, 0);
}
