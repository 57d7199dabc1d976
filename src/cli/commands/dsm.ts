/**
 * @module `rota dsm login NAME [--config FILE] [--otp CODE]`: logs in to a dsm target's NAS
 * as the daemon will, obtains a device token when DSM asks for a 2-step code, and clears
 * the target's latch (docs/dsm.md). Exit 0 logged in; 1 DSM refused or unreachable, or
 * logged in but installs would refuse the entry (`certificate_id` unknown, two entries
 * described alike); 2 usage or config error, and a code needed with neither a terminal nor --otp.
 */
import { defineCommand } from "citty";
import type { DsmConfig } from "../../backends/install/dsm/config.ts";
import { systemClock } from "../../clock.ts";
import { describeError, RotaError } from "../../errors.ts";
import { createLogger } from "../../log.ts";
import { CliExit, EXIT } from "../exit.ts";
import { loadConfigOrExit } from "../load-config.ts";
import { readHiddenLine } from "../prompt.ts";
import { connectionArgs } from "../target.ts";
import { say } from "../output.ts";

/** Problems of the config or the command line, not of DSM. */
const USAGE_CODES = new Set(["secret", "config"]);

const login = defineCommand({
  meta: { name: "login", description: "Log in to a dsm target's NAS, store a device token when 2-step verification is on, and clear its latch" },
  args: {
    name: { type: "positional", required: true, description: 'An [[install]] of type "dsm"' },
    config: connectionArgs.config,
    otp: { type: "string", description: "The 2-step verification code (asked on the terminal when left out)" },
  },
  async run({ args }) {
    const config = loadConfigOrExit(args.config);
    const section = config.installs.find((s) => s.name === args.name);
    const dsms = config.installs.filter((s) => s.type === "dsm").map((s) => s.name);
    const known = dsms.length > 0 ? `dsm targets: ${dsms.join(", ")}` : 'no [[install]] has type = "dsm"';
    if (!section) throw new CliExit(EXIT.usage, `rota: no install target named ${JSON.stringify(args.name)} (${known})`);
    if (section.type !== "dsm") throw new CliExit(EXIT.usage, `rota: install ${JSON.stringify(args.name)} has type ${section.type}, not dsm (${known})`);
    const cfg = section.options as DsmConfig;
    const otp = async (): Promise<string> => {
      if (args.otp !== undefined) return args.otp;
      if (!process.stdin.isTTY) throw new CliExit(EXIT.usage, `rota: dsm ${args.name}: DSM asks for a 2-step verification code: give --otp CODE, or run on a terminal`);
      return readHiddenLine(`OTP code for ${cfg.username} at ${cfg.url}: `);
    };
    const { dsmLogin } = await import("../../backends/install/dsm/login.ts");
    const log = createLogger({ level: "warn", component: "dsm" });
    try {
      const { line, refusal } = await dsmLogin(args.name, cfg, { stateDir: config.daemon.stateDir, clock: systemClock, log, otp }, new AbortController().signal);
      say(line);
      if (refusal) throw new CliExit(EXIT.failed, `rota: ${refusal}`);
    } catch (err) {
      if (err instanceof CliExit) throw err;
      const code = err instanceof RotaError && USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.failed;
      throw new CliExit(code, `rota: ${describeError(err)}`, { cause: err });
    }
  },
});

export default defineCommand({
  meta: { name: "dsm", description: "Synology DSM install targets (rota dsm login NAME sets up 2-step verification)" },
  subCommands: { login },
});
