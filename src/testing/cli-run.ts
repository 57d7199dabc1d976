/**
 * @module Runs a CLI command in-process against an API app served on a real unix socket,
 * as `rota` would: what it printed, and the exit code the entry point would give it (a
 * `CliExit`'s code and message; 0 when it returns).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand, type CommandDef } from "citty";
import type { Hono } from "hono";
import { CliExit } from "../cli/exit.ts";

export interface CliRun {
  code: number;
  stdout: string;
  /** The CliExit's message: what the entry point prints to stderr. */
  stderr: string;
}

export interface ServedApi {
  socket: string;
  run(cmd: CommandDef<any>, args: string[]): Promise<CliRun>;
  stop(): Promise<void>;
}

export function serveApi(app: Hono): ServedApi {
  const dir = mkdtempSync(join(tmpdir(), "rota-cli-"));
  const socket = join(dir, "rota.sock");
  const server = Bun.serve({ unix: socket, fetch: app.fetch });
  return {
    socket,
    async run(cmd, args) {
      const printed: string[] = [];
      const log = console.log;
      console.log = (...parts: unknown[]) => void printed.push(parts.join(" "));
      try {
        await runCommand(cmd, { rawArgs: [...args, "--socket", socket] });
        return { code: 0, stdout: printed.join("\n"), stderr: "" };
      } catch (err) {
        if (!(err instanceof CliExit)) throw err;
        return { code: err.code, stdout: printed.join("\n"), stderr: err.message };
      } finally {
        console.log = log;
      }
    },
    async stop() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
