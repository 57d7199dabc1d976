/** @module `rota list`: every configured cert with its status and expiry. */
import { defineCommand } from "citty";
import type { CertJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { table } from "../table.ts";
import { connectionArgs, socketPath } from "../target.ts";

export default defineCommand({
  meta: { name: "list", description: "List certificates with status, expiry and next check" },
  args: { ...connectionArgs, json: { type: "boolean", description: "Print a JSON array" } },
  async run({ args }) {
    const { body } = await new ApiClient(socketPath(args)).call<CertJson[]>("GET", "/api/certs");
    if (args.json) return console.log(JSON.stringify(body, null, 2));
    console.log(
      table(
        ["ID", "STATUS", "DAYS LEFT", "NOT AFTER", "NEXT CHECK", "DOMAINS"],
        body.map((c) => [c.id, c.status, c.days_left === null ? "-" : c.days_left.toFixed(2), c.not_after ?? "-", c.retry_at ?? c.next_check ?? "-", c.domains.join(",")]),
      ),
    );
  },
});
