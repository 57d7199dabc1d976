/**
 * @module Strict command lines. citty parses leniently: it drops unknown flags, takes
 * `--config` with no value as unset and ignores extra positionals, so a typo silently
 * runs against defaults. Before citty runs anything, the entry point walks the same
 * subcommand path and refuses what the resolved command does not declare (exit 2).
 */
import type { ArgDef, ArgsDef, CommandDef, CommandMeta, Resolvable } from "citty";
import { CliExit, EXIT } from "./exit.ts";

async function resolve<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === "function" ? (value as () => T | Promise<T>)() : value;
}

/**
 * Checks `argv` against `root` and its subcommands; throws CliExit(usage) with one line
 * naming the problem. `--help`/`-h` and `--version` are the entry point's to handle first.
 */
export async function checkCommandLine(root: CommandDef<any>, argv: string[]): Promise<void> {
  let cmd: CommandDef<any> = root;
  let rest = argv;
  let path = (await resolve<CommandMeta>(root.meta))?.name ?? "rota";
  for (let subs = await resolve(cmd.subCommands); subs && Object.keys(subs).length > 0; subs = await resolve(cmd.subCommands)) {
    // A command with subcommands takes its own options before the subcommand's name (citty's order).
    const def = (await resolve(cmd.args)) ?? {};
    const at = subCommandIndex(rest, def);
    const problem = argsProblem(at < 0 ? rest : rest.slice(0, at), def, path);
    if (problem) throw new CliExit(EXIT.usage, problem);
    if (at < 0) return; // no subcommand named: citty reports that
    const name = rest[at]!;
    const sub = Object.hasOwn(subs, name) ? await resolve(subs[name]) : undefined;
    if (!sub) throw new CliExit(EXIT.usage, `rota: unknown command ${JSON.stringify(name)} (see ${path} --help)`);
    cmd = sub;
    rest = rest.slice(at + 1);
    path = `${path} ${name}`;
  }
  const problem = argsProblem(rest, (await resolve(cmd.args)) ?? {}, path);
  if (problem) throw new CliExit(EXIT.usage, problem);
}

/** Where the subcommand's name is: the first token that is neither an option nor an option's value. */
function subCommandIndex(argv: string[], def: ArgsDef): number {
  const takesValue = new Set(Object.entries(def).flatMap(([name, arg]) => (arg.type === "string" || arg.type === "enum" ? [`--${name}`] : [])));
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") return -1;
    if (!isOption(token)) return i;
    if (takesValue.has(token)) i++;
  }
  return -1;
}

/**
 * The first problem with `argv` for a command declaring `def`, as the line to print,
 * or undefined. Accepted: `--name value` and `--name=value` for string options (value
 * non-empty), `--name`, `--no-name` and `--name=true|false` for booleans, `-x` for a
 * declared one-letter alias, `--` before positionals that start with a dash (a negative
 * number needs none: it is a value, never an option), and at most
 * as many positionals as declared, each non-empty, every required one present.
 */
export function argsProblem(argv: string[], def: ArgsDef, command: string): string | undefined {
  const see = ` (see ${command} --help)`;
  const options = new Map<string, { name: string; arg: ArgDef }>();
  const positionals: Array<{ name: string; arg: ArgDef }> = [];
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === "positional") {
      positionals.push({ name, arg });
      continue;
    }
    for (const spelling of new Set([name, kebab(name), camel(name)])) options.set(`--${spelling}`, { name, arg });
    const aliases = "alias" in arg ? arg.alias : undefined;
    for (const alias of typeof aliases === "string" ? [aliases] : (aliases ?? [])) {
      options.set(alias.length === 1 ? `-${alias}` : `--${alias}`, { name, arg });
    }
  }

  const given: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      given.push(...argv.slice(i + 1));
      break;
    }
    if (!isOption(token)) {
      given.push(token);
      continue;
    }
    const eq = token.startsWith("--") ? token.indexOf("=") : -1;
    const flag = eq < 0 ? token : token.slice(0, eq);
    const inline = eq < 0 ? undefined : token.slice(eq + 1);
    const opt = options.get(flag);
    if (!opt && flag.startsWith("--no-")) {
      const negated = options.get(`--${flag.slice(5)}`);
      if (negated?.arg.type === "boolean") {
        if (inline !== undefined) return `rota: option ${flag} for "${command}" takes no value${see}`;
        seen.add(negated.name);
        continue;
      }
    }
    if (!opt) return `rota: unknown option ${flag} for "${command}"${see}`;
    seen.add(opt.name);
    if (opt.arg.type === "boolean") {
      if (inline !== undefined && inline !== "true" && inline !== "false") {
        return `rota: option ${flag} for "${command}" takes no value, or true or false, not ${JSON.stringify(inline)}${see}`;
      }
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // `--config --json` is a forgotten value, not a file named "--json"; `--config=-x` still works.
      if (next === undefined || isOption(next)) return `rota: option ${flag} for "${command}" needs a value${see}`;
      value = next;
      i++;
    }
    if (value === "") return `rota: option ${flag} for "${command}" needs a non-empty value${see}`;
    if (opt.arg.type === "enum" && opt.arg.options && !opt.arg.options.includes(value)) {
      return `rota: option ${flag} for "${command}" must be one of ${opt.arg.options.join(", ")}, not ${JSON.stringify(value)}${see}`;
    }
  }

  for (const [i, value] of given.entries()) {
    const slot = positionals[i];
    if (!slot) return `rota: unexpected argument ${JSON.stringify(value)} for "${command}"${see}`;
    if (value === "") return `rota: argument ${slot.name.toUpperCase()} for "${command}" must not be empty${see}`;
  }
  for (const slot of positionals.slice(given.length)) {
    if (slot.arg.required !== false && slot.arg.default === undefined) return `rota: missing argument ${slot.name.toUpperCase()} for "${command}"${see}`;
  }
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type !== "positional" && arg.required && arg.default === undefined && !seen.has(name)) {
      return `rota: missing option --${name} for "${command}"${see}`;
    }
  }
  return undefined;
}

/** `-` (stdin) and a negative number (`--limit -1`) are values: the command says what is wrong with them. */
function isOption(token: string): boolean {
  return token.startsWith("-") && token !== "-" && !/^-\d+(\.\d+)?$/.test(token);
}

/** citty also accepts the kebab-case and camelCase spellings of an option's name. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
