/** @module `rota check-config`: validate a config file in full without starting anything. */
import { defineCommand } from "citty";
import { loadConfigOrExit } from "../load-config.ts";
import { connectionArgs } from "../target.ts";

export default defineCommand({
  meta: { name: "check-config", description: "Validate a config file and list every problem" },
  args: { config: connectionArgs.config },
  async run({ args }) {
    const config = loadConfigOrExit(args.config);
    console.log(`${config.file}: OK (${config.certs.length} cert(s), ${config.cas.length} CA(s), ${config.dcvs.length} DCV, ${config.installs.length} install target(s))`);
  },
});
