/** @module Strict command lines: what citty would silently drop is refused with one line naming it. */
import { describe, expect, test } from "bun:test";
import { defineCommand, type ArgsDef } from "citty";
import { CliExit, EXIT } from "./exit.ts";
import { argsProblem, checkCommandLine } from "./strict-args.ts";

const def = {
  cert: { type: "positional", required: true, description: "Cert id" },
  force: { type: "boolean" },
  dryRun: { type: "boolean" },
  config: { type: "string" },
  level: { type: "enum", options: ["a", "b"] },
  out: { type: "string", alias: "o" },
} satisfies ArgsDef;

const problem = (...argv: string[]) => argsProblem(argv, def, "rota renew");

describe("argsProblem accepts", () => {
  test.each([
    [["www"]],
    [["www", "--force"]],
    [["--force", "www"]],
    [["www", "--no-force"]],
    [["www", "--force=false"]],
    [["www", "--dry-run"]],
    [["www", "--dryRun"]],
    [["www", "--config", "x.toml"]],
    [["www", "--config=x.toml"]],
    [["www", "--config=-odd.toml"]],
    [["www", "--config", "-"]],
    [["www", "-o", "out"]],
    [["www", "--level", "b"]],
    [["www", "--config", "-1"]],
    [["www", "--config", "-2.5"]],
    [["-7"]],
    [["--", "-www"]],
  ])("%j", (argv) => {
    expect(argsProblem(argv, def, "rota renew")).toBeUndefined();
  });
});

describe("argsProblem refuses", () => {
  test.each([
    [["www", "--bogus"], 'rota: unknown option --bogus for "rota renew" (see rota renew --help)'],
    [["www", "--bogus=1"], 'rota: unknown option --bogus for "rota renew" (see rota renew --help)'],
    [["www", "-x"], 'rota: unknown option -x for "rota renew" (see rota renew --help)'],
    [["www", "-force"], 'rota: unknown option -force for "rota renew" (see rota renew --help)'],
    [["www", "--no-config"], 'rota: unknown option --no-config for "rota renew" (see rota renew --help)'],
    [["www", "--no-force=1"], 'rota: option --no-force for "rota renew" takes no value (see rota renew --help)'],
    [["www", "--force=yes"], 'rota: option --force for "rota renew" takes no value, or true or false, not "yes" (see rota renew --help)'],
    [["www", "--config"], 'rota: option --config for "rota renew" needs a value (see rota renew --help)'],
    [["www", "--config", "--force"], 'rota: option --config for "rota renew" needs a value (see rota renew --help)'],
    [["www", "--config", ""], 'rota: option --config for "rota renew" needs a non-empty value (see rota renew --help)'],
    [["www", "--config="], 'rota: option --config for "rota renew" needs a non-empty value (see rota renew --help)'],
    [["www", "-o"], 'rota: option -o for "rota renew" needs a value (see rota renew --help)'],
    [["www", "--level", "c"], 'rota: option --level for "rota renew" must be one of a, b, not "c" (see rota renew --help)'],
    [["www", "extra"], 'rota: unexpected argument "extra" for "rota renew" (see rota renew --help)'],
    [["www", "-1"], 'rota: unexpected argument "-1" for "rota renew" (see rota renew --help)'],
    [["www", "--config", "-1x"], 'rota: option --config for "rota renew" needs a value (see rota renew --help)'],
    [["www", "--", "extra"], 'rota: unexpected argument "extra" for "rota renew" (see rota renew --help)'],
    [[], 'rota: missing argument CERT for "rota renew" (see rota renew --help)'],
    [["--force"], 'rota: missing argument CERT for "rota renew" (see rota renew --help)'],
    [[""], 'rota: argument CERT for "rota renew" must not be empty (see rota renew --help)'],
  ])("%j", (argv, message) => {
    expect(problem(...argv)).toBe(message);
  });

  test("a required option that is missing", () => {
    expect(argsProblem([], { config: { type: "string", required: true } }, "rota x")).toBe('rota: missing option --config for "rota x" (see rota x --help)');
  });
});

describe("checkCommandLine", () => {
  const list = defineCommand({ meta: { name: "list" }, args: { json: { type: "boolean" }, socket: { type: "string" } } });
  const root = defineCommand({ meta: { name: "rota" }, subCommands: { list: () => Promise.resolve(list), version: defineCommand({ meta: { name: "version" } }) } });

  async function exitOf(argv: string[]): Promise<CliExit | undefined> {
    try {
      await checkCommandLine(root, argv);
      return undefined;
    } catch (err) {
      if (err instanceof CliExit) return err;
      throw err;
    }
  }

  test("a good command line passes", async () => {
    expect(await exitOf(["list", "--json", "--socket", "/x.sock"])).toBeUndefined();
    expect(await exitOf(["version"])).toBeUndefined();
  });

  test.each([
    [["list", "--bogus"], 'rota: unknown option --bogus for "rota list" (see rota list --help)'],
    [["list", "--socket", ""], 'rota: option --socket for "rota list" needs a non-empty value (see rota list --help)'],
    [["version", "extra"], 'rota: unexpected argument "extra" for "rota version" (see rota version --help)'],
    [["--bogus", "list"], 'rota: unknown option --bogus for "rota" (see rota --help)'],
    [["frobnicate"], 'rota: unknown command "frobnicate" (see rota --help)'],
  ])("%j is a usage error", async (argv, message) => {
    const exit = await exitOf(argv);
    expect(exit?.code).toBe(EXIT.usage);
    expect(exit?.message).toBe(message);
  });
});
