/**
 * @module The `rota` executable: daemon and CLI in one. The only place that exits the
 * process; commands are loaded on demand so `rota version` starts in milliseconds.
 */
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { CliExit, EXIT } from "./cli/exit.ts";
import { checkCommandLine } from "./cli/strict-args.ts";
import { describeError } from "./errors.ts";
import { VERSION } from "./cli/version.ts";
import { CHILD_COMMAND } from "./pipeline/child-command.ts";

const main = defineCommand({
  meta: { name: "rota", version: VERSION, description: "Keeps TLS certificates renewed, installed and audited" },
  subCommands: {
    daemon: () => import("./cli/commands/daemon.ts").then((m) => m.default),
    status: () => import("./cli/commands/status.ts").then((m) => m.default),
    list: () => import("./cli/commands/list.ts").then((m) => m.default),
    renew: () => import("./cli/commands/renew.ts").then((m) => m.default),
    audit: () => import("./cli/commands/audit.ts").then((m) => m.default),
    "check-config": () => import("./cli/commands/check-config.ts").then((m) => m.default),
    version: () => import("./cli/commands/version.ts").then((m) => m.default),
    help: defineCommand({
      meta: { name: "help", description: "Show the usage of rota or of one command" },
      args: { command: { type: "positional", required: false, description: "A command" } },
      async run({ args }) {
        if (args.command && !Object.hasOwn(subCommands(), args.command)) {
          throw new CliExit(EXIT.usage, `rota: unknown command ${JSON.stringify(args.command)} (see rota --help)`);
        }
        await printUsage(args.command);
      },
    }),
  },
});

async function run(argv: string[]): Promise<number> {
  // Not a user command: the daemon starts this to run one renewal (pipeline/child.ts).
  if (argv[0] === CHILD_COMMAND) return (await import("./pipeline/child-main.ts")).renewalChild();
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    await printUsage(argv.find((a) => !a.startsWith("-")));
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    console.log(`rota ${VERSION}`);
    return EXIT.ok;
  }
  try {
    // citty drops what it does not know; refuse it instead (unknown flags, missing values, extra arguments).
    await checkCommandLine(main, argv);
    await runCommand(main, { rawArgs: argv });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) console.error(err.message);
      return err.code;
    }
    if (err instanceof Error && err.name === "CLIError") {
      console.error(`rota: ${stripAnsi(err.message)} (see rota --help)`);
      return EXIT.usage;
    }
    console.error(`rota: ${describeError(err)}`);
    return EXIT.failed;
  }
}

function subCommands(): Record<string, CommandDef<any> | (() => Promise<CommandDef<any>>)> {
  return main.subCommands as Record<string, CommandDef<any> | (() => Promise<CommandDef<any>>)>;
}

/**
 * The usage of the named subcommand, else of rota, on stdout. Colours only for a terminal
 * and without NO_COLOR (https://no-color.org): citty looks at neither.
 */
async function printUsage(name: string | undefined): Promise<void> {
  const sub = name && Object.hasOwn(subCommands(), name) ? subCommands()[name] : undefined;
  const text = sub ? await renderUsage(typeof sub === "function" ? await sub() : sub, main) : await renderUsage(main);
  const plain = !process.stdout.isTTY || (process.env.NO_COLOR ?? "") !== "";
  console.log(`${plain ? stripAnsi(text) : text}\n`);
}

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

process.exit(await run(process.argv.slice(2)));
