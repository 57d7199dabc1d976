/**
 * @module The `rota` executable: daemon and CLI in one. The only place that exits the
 * process; commands are loaded on demand so `rota version` starts in milliseconds.
 */
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { CliExit, EXIT } from "./cli/exit.ts";
import { sayError } from "./cli/output.ts";
import { checkCommandLine } from "./cli/strict-args.ts";
import { describeError } from "./errors.ts";
import { VERSION } from "./cli/version.ts";
import { CHILD_COMMAND } from "./pipeline/child-command.ts";

type Def = CommandDef<any>;

const main = defineCommand({
  meta: { name: "rota", version: VERSION, description: "Keeps TLS certificates renewed, installed and audited" },
  subCommands: {
    daemon: () => import("./cli/commands/daemon.ts").then((m) => m.default),
    status: () => import("./cli/commands/status.ts").then((m) => m.default),
    list: () => import("./cli/commands/list.ts").then((m) => m.default),
    renew: () => import("./cli/commands/renew.ts").then((m) => m.default),
    show: () => import("./cli/commands/show.ts").then((m) => m.default),
    ca: () => import("./cli/commands/ca.ts").then((m) => m.default),
    audit: () => import("./cli/commands/audit.ts").then((m) => m.default),
    alerts: () => import("./cli/commands/alerts.ts").then((m) => m.default),
    alert: () => import("./cli/commands/alert.ts").then((m) => m.default),
    dsm: () => import("./cli/commands/dsm.ts").then((m) => m.default),
    cluster: () => import("./cli/commands/cluster.ts").then((m) => m.default),
    reload: () => import("./cli/commands/reload.ts").then((m) => m.default),
    "check-config": () => import("./cli/commands/check-config.ts").then((m) => m.default),
    doctor: () => import("./cli/commands/doctor.ts").then((m) => m.default),
    version: () => import("./cli/commands/version.ts").then((m) => m.default),
    help: defineCommand({
      meta: { name: "help", description: "Show the usage of rota or of one command" },
      args: { command: { type: "positional", required: false, description: "A command" } },
      async run({ args }) {
        if (args.command && !Object.hasOwn(main.subCommands as object, args.command)) {
          throw new CliExit(EXIT.usage, `rota: unknown command ${JSON.stringify(args.command)} (see rota --help)`);
        }
        await printUsage(args.command ? [args.command] : []);
      },
    }),
  },
});

async function run(argv: string[]): Promise<number> {
  // Not a user command: the daemon starts this as a renewal worker (pipeline/child.ts).
  if (argv[0] === CHILD_COMMAND) return (await import("./pipeline/child-main.ts")).renewalChild();
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    await printUsage(argv.filter((a) => !a.startsWith("-")));
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
      if (err.message) sayError(err.message);
      return err.code;
    }
    if (err instanceof Error && err.name === "CLIError") {
      sayError(`rota: ${stripAnsi(err.message)} (see ${await helpFor(argv)})`);
      return EXIT.usage;
    }
    sayError(`rota: ${describeError(err)}`);
    return EXIT.failed;
  }
}

/** The deepest subcommand the leading `names` lead to, and those names. */
async function commandPath(names: string[]): Promise<{ cmd: Def; path: string[] }> {
  let cmd: Def = main;
  const path: string[] = [];
  for (const name of names) {
    const subs = (typeof cmd.subCommands === "function" ? await cmd.subCommands() : cmd.subCommands) as Record<string, Def | (() => Promise<Def>)> | undefined;
    const sub = subs && Object.hasOwn(subs, name) ? subs[name] : undefined;
    if (!sub) break;
    path.push(name);
    cmd = typeof sub === "function" ? await sub() : sub;
  }
  return { cmd, path };
}

/** The deepest subcommand `names` lead to (`rota ca root --help`), with its parent. */
async function resolveForUsage(names: string[]): Promise<[Def, Def?]> {
  const { cmd, path } = await commandPath(names);
  if (path.length === 0) return [cmd];
  // citty names a command by its parent's name: the parent here is the whole path above it.
  return [cmd, { meta: { name: ["rota", ...path.slice(0, -1)].join(" "), version: VERSION } }];
}

/** Where a usage error sends the user: the help of the deepest command the words name (`rota cluster --help`). */
async function helpFor(argv: string[]): Promise<string> {
  const { path } = await commandPath(argv.filter((a) => !a.startsWith("-")));
  return ["rota", ...path, "--help"].join(" ");
}

/**
 * The usage of the command `names` lead to, else of rota, on stdout. Colours only for a
 * terminal and without NO_COLOR (https://no-color.org): citty looks at neither.
 */
async function printUsage(names: string[]): Promise<void> {
  const text = await renderUsage(...(await resolveForUsage(names)));
  const plain = !process.stdout.isTTY || (process.env.NO_COLOR ?? "") !== "";
  console.log(`${plain ? stripAnsi(text) : text}\n`);
}

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

process.exit(await run(process.argv.slice(2)));
