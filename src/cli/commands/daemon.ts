/**
 * @module `rota daemon`: runs the scheduler and the API until SIGTERM or SIGINT, which
 * cancel in-flight renewals, remove their challenges and close their rows as interrupted.
 * SIGHUP re-reads the config file.
 */
import { defineCommand } from "citty";
import { systemClock } from "../../clock.ts";
import { describeError } from "../../errors.ts";
import { createLogger, logSettings, LOG_FORMATS, LOG_LEVELS, type LogFormat, type Logger, type LogLevel } from "../../log.ts";
import { CliExit, EXIT } from "../exit.ts";
import { ConfigError } from "../../config/load.ts";
import { configExit, loadConfigOrExit } from "../load-config.ts";
import { connectionArgs } from "../target.ts";
import { VERSION } from "../version.ts";

/** SIGTERM must end the daemon within 5 s; clean-up gets most of that, then we leave regardless. */
const STOP_DEADLINE_MS = 4_500;

export default defineCommand({
  meta: { name: "daemon", description: "Run the renewal daemon in the foreground" },
  args: {
    config: connectionArgs.config,
    "log-level": { type: "enum", options: [...LOG_LEVELS], description: "Lowest level logged (default: ROTA_LOG_LEVEL, else info)" },
    "log-format": { type: "enum", options: [...LOG_FORMATS], description: "text, or one JSON object per line (default: ROTA_LOG_FORMAT, else text)" },
    debug: { type: "boolean", description: "Same as --log-level debug" },
  },
  async run({ args }) {
    const log = createDaemonLogger(args["log-level"] ?? (args.debug ? "debug" : undefined), args["log-format"]);
    const config = loadConfigOrExit(args.config);
    // A promise nobody awaited must not take the daemon (and every cert it guards) down with a crash report.
    process.on("unhandledRejection", (err) => log.error(`unexpected: ${describeError(err)}`));
    const { startDaemon } = await import("../../daemon/daemon.ts");
    let daemon;
    try {
      daemon = await startDaemon({ config, log, clock: systemClock, version: VERSION });
    } catch (err) {
      if (err instanceof ConfigError) throw configExit(err);
      throw new CliExit(EXIT.failed, `rota: daemon cannot start: ${describeError(err)}`);
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      // `on`, not `once`: a second SIGTERM or Ctrl-C must not kill the clean-up with the default action.
      const onSignal = (sig: string) => {
        if (stopping) return log.warn(`${sig}: already stopping`);
        stopping = true;
        log.info(`${sig}: stopping`);
        const deadline = setTimeout(() => {
          log.warn("clean-up did not finish in time; exiting");
          resolve();
        }, STOP_DEADLINE_MS);
        daemon.stop().then(
          () => {
            clearTimeout(deadline);
            resolve();
          },
          (err) => {
            log.error(`stop: ${describeError(err)}`);
            clearTimeout(deadline);
            resolve();
          },
        );
      };
      process.on("SIGTERM", () => onSignal("SIGTERM"));
      process.on("SIGINT", () => onSignal("SIGINT"));
      // SIGHUP re-reads the config (the reload logs its own outcome); while stopping there is nothing to reload.
      process.on("SIGHUP", () => {
        if (stopping) return log.warn("SIGHUP: stopping; not reloading");
        log.info("SIGHUP: reloading the config");
        void daemon.reload();
      });
    });
  },
});

/**
 * The daemon's logger. The resolved settings go into the environment, which the renewal
 * processes inherit, so their lines have the same level and format as the daemon's.
 */
function createDaemonLogger(level: LogLevel | undefined, format: LogFormat | undefined): Logger {
  let settings;
  try {
    settings = logSettings({ level, format }, process.env);
  } catch (err) {
    throw new CliExit(EXIT.usage, `rota: ${describeError(err)}`);
  }
  process.env.ROTA_LOG_LEVEL = settings.level;
  process.env.ROTA_LOG_FORMAT = settings.format;
  return createLogger({ ...settings, component: "daemon" });
}
