/** @module `rota reload`: the daemon re-reads its config file, as on SIGHUP; a broken file changes nothing and exits 2. */
import { defineCommand } from "citty";
import type { ErrorJson, ReloadJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

export default defineCommand({
  meta: { name: "reload", description: "Make the daemon re-read its config file (as SIGHUP does)" },
  args: { ...connectionArgs, json: { type: "boolean", description: "Print the daemon's reply as JSON" } },
  async run({ args }) {
    const { status, body } = await new ApiClient(endpoint(args)).call<ReloadJson | ErrorJson>("POST", "/api/reload");
    if (args.json) sayJson(body);
    if (!("status" in body)) throw new CliExit(EXIT.failed, `rota: ${body.error ?? `unexpected reply (HTTP ${status})`}`);
    if (body.status === "invalid") {
      throw new CliExit(EXIT.usage, args.json ? "" : [`rota: ${body.error}:`, ...body.problems.map((p) => `  ${p}`)].join("\n"));
    }
    if (!args.json) say(`reloaded: ${body.summary}`);
  },
});
