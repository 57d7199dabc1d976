/** @module `rota status`: the daemon's one-screen summary. */
import { defineCommand } from "citty";
import { ApiClient } from "../client.ts";
import { connectionArgs, socketPath } from "../target.ts";

interface StatusJson {
  version: string;
  pid: number;
  config: string;
  uptime_seconds: number;
  certs: number;
  by_status: Record<string, number>;
  next_tick: string | null;
}

export default defineCommand({
  meta: { name: "status", description: "Show whether the daemon runs and how its certificates stand" },
  args: { ...connectionArgs, json: { type: "boolean", description: "Print JSON" } },
  async run({ args }) {
    const { body } = await new ApiClient(socketPath(args)).call<StatusJson>("GET", "/api/status");
    if (args.json) return console.log(JSON.stringify(body, null, 2));
    const counts = Object.entries(body.by_status)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ");
    console.log(`rota ${body.version} running (pid ${body.pid}, up ${body.uptime_seconds}s), config ${body.config}`);
    console.log(`${body.certs} cert(s)${counts ? `: ${counts}` : ""}; next check ${body.next_tick ?? "pending"}`);
  },
});
