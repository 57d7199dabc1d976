/**
 * @module `rota alert test [SINK] [--cert ID]`: a test alert through the daemon's sinks,
 * past the repeat limit. Exit 0 when every sink took it, 1 when any failed, 2 for a sink
 * not configured, 3 when the daemon is unreachable, 4 for a cert not configured.
 */
import { defineCommand } from "citty";
import type { TestResultJson, UnknownJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say } from "../output.ts";

const test = defineCommand({
  meta: { name: "test", description: "Send a test alert to every sink, or the one named, and print each outcome" },
  args: {
    sink: { type: "positional", required: false, description: "An [[alert]] name; all of them when left out" },
    cert: { type: "string", description: "Carry this cert's facts in the alert" },
    ...connectionArgs,
  },
  async run({ args }) {
    const q = new URLSearchParams();
    if (args.sink) q.set("sink", args.sink);
    if (args.cert) q.set("cert", args.cert);
    const { status, body } = await new ApiClient(endpoint(args)).call<TestResultJson[] | UnknownJson>("POST", `/api/alerts/test${q.size > 0 ? `?${q}` : ""}`);
    if (!Array.isArray(body)) {
      if (status === 404 && body.unknown === "sink") throw new CliExit(EXIT.usage, `rota: ${body.error}`);
      if (status === 404 && body.unknown === "cert") throw new CliExit(EXIT.unknownCert, `rota: unknown cert id ${JSON.stringify(args.cert)}`);
      throw new CliExit(EXIT.failed, `rota: ${body.error}`);
    }
    if (body.length === 0) throw new CliExit(EXIT.failed, "rota: no [[alert]] is configured: nothing to test");
    for (const r of body) say(`${r.sink}: ${r.outcome}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ""}${r.error ? `: ${r.error}` : ""}`);
    if (body.some((r) => r.outcome !== "delivered")) throw new CliExit(EXIT.failed);
  },
});

export default defineCommand({
  meta: { name: "alert", description: "Alert sinks (rota alert test sends a test alert)" },
  subCommands: { test },
});
