/**
 * @module `rota check-config`: validate a config file in full, then check the machine
 * for what `rota daemon` would refuse (src/config/preflight.ts), without creating anything.
 */
import { defineCommand } from "citty";
import { ConfigError } from "../../config/load.ts";
import { preflight } from "../../config/preflight.ts";
import { configExit, loadConfigOrExit } from "../load-config.ts";
import { connectionArgs } from "../target.ts";

export default defineCommand({
  meta: { name: "check-config", description: "Validate a config file, and check the folders and keys it names, listing every problem" },
  args: { config: connectionArgs.config },
  async run({ args }) {
    const config = loadConfigOrExit(args.config);
    const report = preflight(config);
    for (const line of report.warnings) console.error(`warning: ${line}`);
    const problems = [...report.fatal, ...report.certs];
    if (problems.length > 0) throw configExit(new ConfigError(config.file, problems));
    console.log(`${config.file}: OK (${config.certs.length} cert(s), ${config.cas.length} CA(s), ${config.dcvs.length} DCV, ${config.installs.length} install target(s))`);
  },
});
