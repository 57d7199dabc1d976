/**
 * @module The logger: consola's API (info/warn/error/success/debug/withTag), with rota's
 * own reporters for output that machines and operators read. Text on a terminal stays
 * consola's; text elsewhere is one line per event (`<time> <level> <component> <msg>`),
 * JSON is one object per line (`time`, `level`, `component`, `cert`, `renewal`, `msg`),
 * which journald, Loki and Synology's log viewer ingest as they are.
 */
import { createConsola, type ConsolaInstance, type ConsolaOptions, type ConsolaReporter, type InputLogObject, type LogObject } from "consola/core";
import { systemClock, type Clock } from "./clock.ts";
import { RotaError, describeError } from "./errors.ts";

export type Logger = ConsolaInstance;

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** consola's numeric levels: a call logs when its type's level is at most this. */
const CONSOLA_LEVEL: Record<LogLevel | "silent", number> = { debug: 4, info: 3, warn: 1, error: 0, silent: Number.NEGATIVE_INFINITY };

export interface LoggerOptions {
  /** Lowest level written; "silent" writes nothing (tests). Default "info". */
  level?: LogLevel | "silent";
  /** Default "text". */
  format?: LogFormat;
  /** The component of a line logged without a tag. Default "rota". */
  component?: string;
  /** Where each line's time comes from. */
  clock?: Clock;
  /**
   * The cert and renewal of a line that names none itself: what a renewal worker is running
   * now, for the lines of backends it built once and keeps across renewals.
   */
  current?: () => Pick<LogContext, "cert" | "renewal">;
  /** Receives each line, newline included. Default: stderr. */
  write?: (line: string) => void;
  /** Whether text goes to a terminal, which gets consola's own output. Default: whether stderr is a TTY. */
  tty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = CONSOLA_LEVEL[options.level ?? "info"];
  const format = options.format ?? "text";
  const tty = options.tty ?? process.stderr.isTTY === true;
  // Repeats are written as they come: consola's throttle would hold a line back on a timer and lose it at exit.
  const common = { level, throttle: 0, stdout: process.stderr, stderr: process.stderr };
  if (format === "text" && tty) return terminalLogger(common);
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const reporter = lineReporter(format, options.component ?? "rota", options.clock ?? systemClock, write, options.current ?? (() => ({})));
  return createConsola({ ...common, reporters: [reporter] });
}

/**
 * consola's own output, for a person at a terminal. Its full entry point (reporters, colours,
 * an `Intl.Segmenter`, `node:tty`) costs a cold start some 25 ms of CPU (issue 11): loaded only
 * here, where a daemon under systemd or a renewal worker, whose stderr is no terminal, never comes.
 */
function terminalLogger(options: Partial<ConsolaOptions>): Logger {
  // `require`, not `import()`: a logger is made synchronously, and the bundler keeps the module unevaluated until this call.
  const full = require("consola") as typeof import("consola");
  return full.createConsola(options);
}

/** What a line is about. Unknown fields are null in JSON and left out of text. */
export interface LogContext {
  /** Replaces the tag. */
  component?: string;
  cert?: string;
  renewal?: string;
}

/** A logger whose every line carries `ctx` (consola copies a logger's defaults into each log object). */
/** Whether `log` writes debug lines: a loop over thousands of certs builds none when it does not. */
export function logsDebug(log: Logger): boolean {
  return log.level >= CONSOLA_LEVEL.debug;
}

export function scoped(log: Logger, ctx: LogContext): Logger {
  const { component, ...fields } = ctx;
  return log.withDefaults({ ...fields, ...(component === undefined ? {} : { tag: component }) } as InputLogObject);
}

/** consola's types by level: fatal/error 0, warn 1, log 2, info/success/fail/ready/start/box 3, debug 4, trace 5. */
function levelWord(level: number): LogLevel {
  if (level <= 0) return "error";
  if (level === 1) return "warn";
  if (level <= 3) return "info";
  return "debug";
}

function lineReporter(format: LogFormat, fallbackComponent: string, clock: Clock, write: (line: string) => void, current: () => Pick<LogContext, "cert" | "renewal">): ConsolaReporter {
  return {
    log(obj: LogObject) {
      const time = clock.now().toISOString();
      const level = levelWord(obj.level);
      const component = obj.tag || fallbackComponent;
      const now = current();
      const cert = typeof obj.cert === "string" ? obj.cert : (now.cert ?? null);
      const renewal = typeof obj.renewal === "string" ? obj.renewal : (now.renewal ?? null);
      const msg = obj.args.map(argText).join(" ");
      if (format === "json") {
        write(`${JSON.stringify({ time, level, component, cert, renewal, msg })}\n`);
        return;
      }
      const context = [cert === null ? "" : `cert=${cert}`, renewal === null ? "" : `renewal=${renewal}`].filter(Boolean);
      write(`${[time, level.padEnd(5), oneLine(component), ...context.map(oneLine), oneLine(msg)].join(" ")}\n`);
    },
  };
}

function argText(arg: unknown): string {
  if (typeof arg === "string") return arg;
  if (arg instanceof Error) return describeError(arg);
  // Required here, not imported: `node:util` is some 5 ms of a start, and only a line with an object in it needs it.
  const { inspect } = require("node:util") as typeof import("node:util");
  return inspect(arg, { colors: false, breakLength: Number.POSITIVE_INFINITY });
}

/**
 * A text line must stay one line with no terminal codes: control characters (newlines,
 * ESC) and the Unicode line separators some viewers break on are written escaped.
 */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/**
 * The daemon's level and format: the command line's, else ROTA_LOG_LEVEL / ROTA_LOG_FORMAT,
 * else info and text. A value from the environment that is not one of the choices throws
 * a RotaError naming the variable (the command line's are checked by the CLI parser).
 */
export function logSettings(flags: { level?: LogLevel; format?: LogFormat }, env: Record<string, string | undefined>): { level: LogLevel; format: LogFormat } {
  return {
    level: flags.level ?? fromEnv(env, "ROTA_LOG_LEVEL", LOG_LEVELS) ?? "info",
    format: flags.format ?? fromEnv(env, "ROTA_LOG_FORMAT", LOG_FORMATS) ?? "text",
  };
}

function fromEnv<T extends string>(env: Record<string, string | undefined>, name: string, choices: readonly T[]): T | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  // Written by hand in unit files and shells: `DEBUG` and `JSON` mean what they say.
  const folded = value.toLowerCase();
  if ((choices as readonly string[]).includes(folded)) return folded as T;
  throw new RotaError("bad_log_setting", `${name} must be one of ${choices.join(", ")}, not ${JSON.stringify(value.slice(0, 80))}`);
}
