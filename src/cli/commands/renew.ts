/** @module `rota renew`: ask the daemon to renew one cert now, optionally following each step live. */
import { defineCommand } from "citty";
import type { ErrorJson, RenewReplyJson, RenewalJson, StatusJson, StepJson } from "../../api/json.ts";
import { ApiClient } from "../client.ts";
import { stepLine } from "../table.ts";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say } from "../output.ts";

export default defineCommand({
  meta: { name: "renew", description: "Renew a certificate now (when due, or always with --force)" },
  args: {
    cert: { type: "positional", required: true, description: "Cert id" },
    force: { type: "boolean", description: "Renew even when not due, skip the failure cooldown, and clear a halt after authorization failures" },
    "new-key": { type: "boolean", description: "Order with a fresh private key this once, even when not due (the old key is kept as <key_path>.old)" },
    wait: { type: "boolean", description: "Follow the renewal step by step until it ends" },
    ...connectionArgs,
  },
  async run({ args }) {
    // Ctrl-C stops following, not the renewal: caught from the start, so it is never fatal once a renewal runs.
    const ctrlC = new AbortController();
    if (args.wait) process.once("SIGINT", () => ctrlC.abort());
    const client = new ApiClient(endpoint(args));
    const q = new URLSearchParams();
    if (args.force) q.set("force", "1");
    if (args["new-key"]) q.set("new_key", "1");
    const { status, body } = await client.call<RenewReplyJson | ErrorJson>("POST", `/api/certs/${encodeURIComponent(args.cert)}/renew${q.size > 0 ? `?${q}` : ""}`);
    if (status === 404) throw new CliExit(EXIT.unknownCert, `rota: unknown cert id ${JSON.stringify(args.cert)}`);
    if (!("status" in body)) throw new CliExit(EXIT.failed, `rota: ${body.error ?? `unexpected reply (HTTP ${status})`}`);
    let id: string;
    switch (body.status) {
      case "not_due":
        say(`${args.cert} is not due (${notDueWhy(body)}); use --force to renew anyway`);
        return;
      case "busy":
        if (!args.wait) throw new CliExit(EXIT.failed, `rota: ${args.cert} is already renewing (renewal ${body.renewal_id}); follow it with rota renew ${args.cert} --wait`);
        say(`${args.cert} is already renewing; following renewal ${body.renewal_id}`);
        id = body.renewal_id;
        break;
      case "cooldown":
        throw new CliExit(EXIT.failed, `rota: ${args.cert} is cooling down after a failure until ${body.retry_at} (${body.last_error ?? "no detail"}); use --force to try now`);
      case "halted":
        throw new CliExit(
          EXIT.failed,
          `rota: ${args.cert} stopped retrying after ${body.failures} authorization failures in a row (${body.last_error ?? "no detail"}); fix its DCV, then rota renew ${args.cert} --force`,
        );
      case "not_leader":
        throw new CliExit(EXIT.failed, await notLeaderLine(client, body));
      case "started":
        id = body.renewal_id;
        say(`${body.install_only ? "re-install" : "renewal"} ${id} started for ${args.cert}`);
        break;
    }
    if (!args.wait) return;
    let final: RenewalJson | undefined;
    const lost = `rota: lost the daemon while following renewal ${id} (did it stop?); see \`rota audit ${args.cert}\``;
    await client.stream(`/api/renewals/${id}/events`, (event, data) => {
      if (event === "step") {
        const s = JSON.parse(data) as StepJson;
        say(stepLine(s));
      } else if (event === "end") {
        final = JSON.parse(data) as RenewalJson;
      } else if (event === "error") {
        // The daemon runs but cannot tell the end (its audit store is away): not a lost daemon.
        const { error } = JSON.parse(data) as ErrorJson;
        throw new CliExit(EXIT.failed, `rota: cannot follow renewal ${id} to its end: ${error}; the daemon is running, see \`rota audit ${args.cert}\` later`);
      }
    }, lost, ctrlC.signal);
    if (ctrlC.signal.aborted) {
      throw new CliExit(EXIT.interrupted, `\nrota: stopped following; renewal ${id} goes on in the daemon. Follow it again with rota renew ${args.cert} --wait, or see rota audit ${args.cert}`);
    }
    if (!final) throw new CliExit(EXIT.failed, lost);
    if (final.status !== "succeeded") throw new CliExit(EXIT.failed, `renewal ${id} ${final.status}: ${final.error ?? "no detail"}`);
    say(`renewal ${id} succeeded`);
  },
});

/** A follower refuses renewals rather than forwarding them: the line names the node that runs them. */
async function notLeaderLine(client: ApiClient, r: Extract<RenewReplyJson, { status: "not_leader" }>): Promise<string> {
  if (r.leader === null) return "rota: no node leads right now; try again in a few seconds";
  const { body } = await client.call<StatusJson>("GET", "/api/status");
  const self = body.cluster?.node_id ?? "this node";
  return `rota: ${self} is a follower; renewals run on the leader ${r.leader} (term ${r.term}): run rota renew there`;
}

/** Why a renewal was not started: `renew at …, ARI window … – …` when the daemon knows its moment, else the decision's reason. */
export function notDueWhy(r: Extract<RenewReplyJson, { status: "not_due" }>): string {
  if (r.renew_at === null) return r.reason;
  return `renew at ${r.renew_at}${r.ari_window ? `, ARI window ${r.ari_window.start} – ${r.ari_window.end}` : ""}`;
}
