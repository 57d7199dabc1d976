/**
 * @module `rota check-config`: validate a config file in full, then check the machine
 * for what `rota daemon` would refuse (src/config/preflight.ts, and the TCP listener's TLS
 * files as src/daemon/tcp-bind.ts loads them), without creating anything.
 * Every problem found goes into one report: in a file with mistakes, the parts that
 * validated are still checked against the machine.
 */
import { defineCommand } from "citty";
import { ConfigError, loadConfigWarned } from "../../config/load.ts";
import { preflight, type SectionKeys } from "../../config/preflight.ts";
import type { ValidateOptions } from "../../config/reader.ts";
import type { RotaConfig } from "../../config/schema.ts";
import { HttpSetupError, readTls } from "../../daemon/tcp-bind.ts";
import { configExit } from "../load-config.ts";
import { configPath, connectionArgs } from "../target.ts";
import { say, sayError } from "../output.ts";

export default defineCommand({
  meta: { name: "check-config", description: "Validate a config file, and check the folders and keys it names, listing every problem" },
  args: {
    config: connectionArgs.config,
    "allow-unset-env": {
      type: "boolean",
      description: "An unset *_env variable is a warning, not a problem: for checking a config outside the service's environment (install.sh does)",
    },
  },
  async run({ args }) {
    const checked = readForCheck(configPath(args.config).path, { unsetEnvWarns: args["allow-unset-env"] === true });
    const report = preflight(checked.config, checked.keys);
    // A refused value was replaced by its default in a partial config: its own problem says enough.
    const refused = new Set(checked.problems.map(keyOf));
    const own = (line: string) => !refused.has(keyOf(line));
    for (const line of [...checked.warnings, ...report.warnings.filter(own)]) sayError(`warning: ${line}`);
    const problems = [...checked.problems, ...[...report.fatal, ...report.certs, ...(await tlsProblems(checked.config))].filter(own)];
    if (problems.length > 0) throw configExit(new ConfigError(checked.config.file, problems));
    const { config } = checked;
    say(`${config.file}: OK (${config.certs.length} cert(s), ${config.cas.length} CA(s), ${config.dcvs.length} DCV, ${config.installs.length} install target(s))`);
  },
});

/** The config, or what validated of it with the problems; a file that cannot be read or parsed is exit 2 at once. */
function readForCheck(path: string, opts: ValidateOptions): { config: RotaConfig; keys?: SectionKeys; problems: string[]; warnings: string[] } {
  try {
    return { ...loadConfigWarned(path, process.env, opts), problems: [] };
  } catch (err) {
    if (!(err instanceof ConfigError) || !err.partial) throw configExit(err);
    return { config: err.partial.config, keys: err.partial.keys, problems: err.problems, warnings: [] };
  }
}

/** What the TCP listener would refuse in its certificate and key, in its own words (the daemon exits 2 on them). */
async function tlsProblems(config: RotaConfig): Promise<string[]> {
  const l = config.http.listener;
  if (!l) return [];
  try {
    await readTls(l);
    return [];
  } catch (err) {
    if (err instanceof HttpSetupError) return [err.message];
    throw err;
  }
}

/** `cert[0].key_path` of `cert[0].key_path: …`. */
function keyOf(line: string): string {
  const end = line.indexOf(": ");
  return end === -1 ? line : line.slice(0, end);
}
