/** @module `rota status`: the daemon's one-screen summary; with `--check`, an exit code for monitoring. */
import { defineCommand } from "citty";
import type { CertJson, StatusJson } from "../../api/json.ts";
import type { ClusterStatusBody } from "../../cluster/types.ts";
import { ApiClient } from "../client.ts";
import { clusterLine } from "../cluster-report.ts";
import { CliExit, EXIT } from "../exit.ts";
import { healthProblems } from "../health.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

export default defineCommand({
  meta: { name: "status", description: "Show whether the daemon runs and how its certificates stand" },
  args: {
    ...connectionArgs,
    json: { type: "boolean", description: "Print JSON" },
    check: {
      type: "boolean",
      description: "For monitoring: one line per problem (with --json, {ok, certs, problems}), exit 1 if any (failed, cooldown, halted, missing, unreadable, a target that could not be read, expired, or due for over two check intervals)",
    },
  },
  async run({ args }) {
    const client = new ApiClient(endpoint(args));
    const { body } = await client.call<StatusJson>("GET", "/api/status");
    if (args.check) {
      const { body: certs } = await client.call<CertJson[]>("GET", "/api/certs");
      const problems = healthProblems(certs, body.check_interval_seconds, new Date());
      // The same exit code either way: monitors read it, and scripts the JSON beside it.
      if (args.json) {
        sayJson({ ok: problems.length === 0, certs: certs.length, problems });
        if (problems.length > 0) throw new CliExit(EXIT.failed);
        return;
      }
      if (problems.length > 0) {
        say(problems.join("\n"));
        throw new CliExit(EXIT.failed);
      }
      say(`ok: ${certs.length} cert(s), none needs attention`);
      return;
    }
    if (args.json) return sayJson(body);
    const counts = Object.entries(body.by_status)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ");
    say(`rota ${body.version} running (pid ${body.pid}, up ${body.uptime_seconds}s), config ${body.config}`);
    say(`${body.certs} cert(s)${counts ? `: ${counts}` : ""}; next check ${body.next_tick ?? "pending"}`);
    // SQLite is in the state folder and always there: said only for a store on a server.
    const a = body.audit;
    if (a && a.backend !== "sqlite") say(`audit: ${a.backend}, ${a.connected ? "connected" : `DISCONNECTED (${a.buffered_writes} writes buffered)`}`);
    // Node counts need the whole report; /api/status carries only this node's own view.
    if (body.cluster) say(clusterLine((await client.call<ClusterStatusBody>("GET", "/api/cluster")).body));
  },
});
