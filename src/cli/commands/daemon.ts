/**
 * @module `rota daemon`: runs the scheduler and the API until SIGTERM or SIGINT, which
 * cancel in-flight renewals, remove their challenges and close their rows as interrupted.
 * SIGHUP re-reads the config file.
 */
import { defineCommand } from "citty";
import { systemClock } from "../../clock.ts";
import { describeError } from "../../errors.ts";
import { createLogger } from "../../log.ts";
import { CliExit, EXIT } from "../exit.ts";
import { ConfigError } from "../../config/load.ts";
import { configExit, loadConfigOrExit } from "../load-config.ts";
import { connectionArgs } from "../target.ts";
import { VERSION } from "../version.ts";

/** SIGTERM must end the daemon within 5 s; clean-up gets most of that, then we leave regardless. */
const STOP_DEADLINE_MS = 4_500;

export default defineCommand({
  meta: { name: "daemon", description: "Run the renewal daemon in the foreground" },
  args: { config: connectionArgs.config, debug: { type: "boolean", description: "Verbose logs" } },
  async run({ args }) {
    const config = loadConfigOrExit(args.config);
    const log = createLogger(args.debug ? "debug" : "info");
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
