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
import { loadForStart } from "../../config/early.ts";
import { ConfigError, loadConfigCached, type CachedLoad } from "../../config/load.ts";
import type { RunningDaemon } from "../../daemon/daemon.ts";
import type { Front } from "../../daemon/front.ts";
import { configExit } from "../load-config.ts";
import { configPath, connectionArgs } from "../target.ts";
import { COMMIT, VERSION } from "../version.ts";

/** Another build may parse another way: the parse cache is keyed by the build too. */
const PARSE_TAG = `${VERSION} ${COMMIT}`;

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
    // Made at its first use: a start on a cache hit listens before it logs anything (stderr's stream alone is some 5 ms).
    const makeLog = daemonLogger(args["log-level"] ?? (args.debug ? "debug" : undefined), args["log-format"]);
    let logger: Logger | undefined;
    const log = () => (logger ??= makeLog());
    let start;
    try {
      start = loadForStart(configPath(args.config).path, PARSE_TAG);
    } catch (err) {
      throw configExit(err);
    }
    // A promise nobody awaited must not take the daemon (and every cert it guards) down with a crash report.
    process.on("unhandledRejection", (err) => log().error(`unexpected: ${describeError(err)}`));
    // Signals are ours from before the start (which may spend 30 s removing a crash's challenges):
    // the default actions would kill the daemon with its socket and journal half done.
    let daemon: RunningDaemon | undefined;
    let stopping = false;
    let reloadAsked = false;
    let stopped = () => {};
    const done = new Promise<void>((resolve) => (stopped = resolve));
    const finish = (running: RunningDaemon) => {
      const deadline = setTimeout(() => {
        log().warn("clean-up did not finish in time; exiting");
        running.abandon();
        stopped();
      }, STOP_DEADLINE_MS);
      running
        .stop()
        .catch((err: unknown) => log().error(`stop: ${describeError(err)}`))
        .finally(() => {
          clearTimeout(deadline);
          stopped();
        });
    };
    const stop = (sig: string) => {
      if (stopping) return log().warn(`${sig}: already stopping`);
      stopping = true;
      log().info(`${sig}: stopping`);
      // During the start, the start ends first and then stops.
      if (daemon) finish(daemon);
    };
    // `on`, not `once`: a second SIGTERM or Ctrl-C must not kill the clean-up with the default action.
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    // SIGHUP re-reads the config (the reload logs its own outcome); while stopping there is nothing to reload.
    process.on("SIGHUP", () => {
      if (stopping) return log().warn("SIGHUP: stopping; not reloading");
      if (!daemon) {
        reloadAsked = true;
        return log().info("SIGHUP: still starting; reloading once started");
      }
      log().info("SIGHUP: reloading the config");
      void daemon.reload();
    });

    // On a parse-cache hit the listeners come first (issue 11): `/healthz` answers while the certs
    // are read and the daemon's modules load, and every other request waits for the start.
    let front: Front | undefined;
    let loaded: CachedLoad;
    try {
      if (start.early) {
        front = await (await import("../../daemon/front.ts")).openFront(start.early);
        // A `/healthz` that came while the listeners were being bound is answered before the certs are read.
        await new Promise((resolve) => setImmediate(resolve));
        loaded = await start.early.complete();
      } else {
        loaded = start.loaded;
      }
      const { startDaemon } = await import("../../daemon/daemon.ts");
      const load = (file: string) => loadConfigCached(file, PARSE_TAG);
      daemon = await startDaemon({ config: loaded.config, log: log(), clock: systemClock, version: VERSION, keepParse: loaded.remember, load, ...(front ? { front } : {}) });
    } catch (err) {
      await front?.fail();
      if (err instanceof ConfigError) throw configExit(err);
      throw new CliExit(EXIT.failed, `rota: daemon cannot start: ${describeError(err)}`);
    }
    if (stopping) finish(daemon);
    else if (reloadAsked) void daemon.reload();
    await done;
  },
});

/**
 * The daemon's logger, made when first called. The resolved settings go into the environment
 * at once, which the renewal processes inherit, so their lines have the same level and format
 * as the daemon's; a bad flag is a usage error before anything else.
 */
function daemonLogger(level: LogLevel | undefined, format: LogFormat | undefined): () => Logger {
  let settings;
  try {
    settings = logSettings({ level, format }, process.env);
  } catch (err) {
    throw new CliExit(EXIT.usage, `rota: ${describeError(err)}`);
  }
  process.env.ROTA_LOG_LEVEL = settings.level;
  process.env.ROTA_LOG_FORMAT = settings.format;
  return () => createLogger({ ...settings, component: "daemon" });
}
