/**
 * @module Reads one line typed on the terminal without echoing it (a 2-step code): raw mode,
 * so the code never shows on screen nor in a recorded session. Ctrl-C and Ctrl-D end it.
 */
import { CliExit, EXIT } from "./exit.ts";

export function readHiddenLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt shows: a code typed at once must not reach the screen.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let line = "";
    const done = (end: () => void) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      end();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(() => resolve(line));
        if (ch === "\u0003") return done(() => reject(new CliExit(EXIT.interrupted)));
        if (ch === "\u0004") return done(() => reject(new CliExit(EXIT.usage, "rota: no code given")));
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else if (ch >= " ") line += ch;
      }
    };
    stdin.on("data", onData);
  });
}
