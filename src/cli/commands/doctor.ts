/**
 * @module `rota doctor [CERT_ID] [--config FILE] [--socket PATH] [--user NAME] [--offline] [--json]`:
 * read-only checks of the config, the state on this machine, the daemon and every backend
 * (src/doctor/). Exit 2 config or usage error; 4 unknown CERT_ID; 1 any FAIL; 3 daemon
 * unreachable; 0 otherwise, warnings allowed.
 */
import { defineCommand } from "citty";
import { CliExit, EXIT } from "../exit.ts";
import { connectionArgs, configPath } from "../target.ts";
import { VERSION } from "../version.ts";
import { say } from "../output.ts";

export default defineCommand({
  meta: { name: "doctor", description: "Check the config, state, keys, daemon and every backend, changing nothing; hints say what to fix" },
  args: {
    cert_id: { type: "positional", required: false, description: "Check only this cert's key and backends" },
    config: connectionArgs.config,
    socket: { type: "string", description: "Daemon socket (default: the config's daemon.socket)" },
    user: { type: "string", description: "The service user whose permissions matter (default: the owner of state_dir)" },
    offline: { type: "boolean", description: "Skip the checks that reach the network (CAs, DNS APIs, DSM, Kubernetes, mail, webhooks)" },
    json: { type: "boolean", description: 'Print {"ok","exit_code","checks":[{"id","status","message","hint"}]}' },
  },
  async run({ args }) {
    const { runDoctor, DoctorUsageError } = await import("../../doctor/doctor.ts");
    const { renderJson, renderText } = await import("../../doctor/report.ts");
    let result;
    try {
      result = await runDoctor({
        configPath: configPath(args.config).path,
        certId: args.cert_id,
        socket: args.socket,
        user: args.user,
        offline: args.offline === true,
        version: VERSION,
      });
    } catch (err) {
      if (err instanceof DoctorUsageError) throw new CliExit(EXIT.usage, err.message);
      throw err;
    }
    say(args.json ? renderJson(result.findings, result.exitCode) : renderText(result.findings));
    if (result.exitCode !== EXIT.ok) throw new CliExit(result.exitCode);
  },
});
