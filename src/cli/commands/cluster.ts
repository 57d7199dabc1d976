/**
 * @module `rota cluster status|step-down` (issue 17). `status`: this node's view of the
 * lease, the nodes and their installs; exit 0 when the node reaches the database and a live
 * leader exists, 1 otherwise (the report printed all the same), 3 daemon unreachable.
 * `step-down`: the leader gives up the lease; exit 0 done, 1 not the leader, 2 cluster off.
 * With `--json` each prints the daemon's body as it is, its error replies included, and no
 * message on stderr: the exit code is the same.
 */
import { defineCommand } from "citty";
import type { ErrorJson, NotLeaderJson } from "../../api/json.ts";
import type { ClusterStatusBody, StepDownBody } from "../../cluster/types.ts";
import { ApiClient } from "../client.ts";
import { clusterHealthy, clusterReport } from "../cluster-report.ts";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, endpoint } from "../target.ts";
import { say, sayJson } from "../output.ts";

const json = { type: "boolean", description: "Print the daemon's reply as JSON" } as const;

const status = defineCommand({
  meta: { name: "status", description: "Show the lease, the nodes and their installs; exit 1 without a connected database and a live leader" },
  args: { ...connectionArgs, json },
  async run({ args }) {
    const { body } = await new ApiClient(endpoint(args)).call<ClusterStatusBody>("GET", "/api/cluster");
    if (args.json) sayJson(body);
    if (!body.enabled) {
      if (!args.json) say("cluster mode is off");
      return;
    }
    if (!args.json) say(clusterReport(body));
    if (!clusterHealthy(body)) throw new CliExit(EXIT.failed);
  },
});

const stepDown = defineCommand({
  meta: { name: "step-down", description: "Make this node give up the cluster lease (another node leads within one tick)" },
  args: { ...connectionArgs, json },
  async run({ args }) {
    // A 400 (cluster mode off) is a usage error, exit 2: ended by the client in words, or here once its body is printed.
    const { status, body } = await new ApiClient(endpoint(args)).call<StepDownBody | NotLeaderJson | ErrorJson>("POST", "/api/cluster/step-down", args.json ? [400] : []);
    if (args.json) sayJson(body);
    if (status === 400) throw new CliExit(EXIT.usage);
    if (status === 409 && "leader" in body) {
      const who = body.leader === null ? ", and no node leads right now" : `; ${body.leader} is (run rota cluster step-down there)`;
      throw new CliExit(EXIT.failed, args.json ? "" : `rota: this node is not the leader${who}`);
    }
    if (status !== 200 || !("released" in body)) throw new CliExit(EXIT.failed, `rota: ${"error" in body ? body.error : `unexpected reply (HTTP ${status})`}`);
    if (args.json) return;
    if (body.released) say(`${body.node_id} stepped down at term ${body.term}; it does not take the lease again before ${body.hold_until}`);
    else say(`${body.node_id} stopped leading at term ${body.term}, but the database could not be reached to release the lease: another node leads once it lapses; ${body.node_id} holds off until ${body.hold_until}`);
  },
});

export default defineCommand({
  meta: { name: "cluster", description: "Cluster mode: rota cluster status, rota cluster step-down" },
  subCommands: { status, "step-down": stepDown },
});
