/** @module The log reporters: exact text lines and JSON objects for what call sites log, levels, context, settings. */
import { describe, expect, test } from "bun:test";
import { RotaError } from "./errors.ts";
import { createLogger, logSettings, scoped, type LoggerOptions } from "./log.ts";
import { FakeClock } from "./testing/fake-clock.ts";

const clock = new FakeClock("2030-01-02T03:04:05.678Z");

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger({ tty: false, clock, write: (line) => lines.push(line), ...options });
  return { log, lines };
}

describe("text off a terminal", () => {
  test("one line per event: time, level word, component, message", () => {
    const { log, lines } = capture({ level: "debug", component: "daemon" });
    log.info("listening");
    log.success("renewed");
    log.warn("careful");
    log.error("broken");
    log.debug("detail");
    log.withTag("scheduler").info("tick");
    expect(lines).toEqual([
      "2030-01-02T03:04:05.678Z info  daemon listening\n",
      "2030-01-02T03:04:05.678Z info  daemon renewed\n",
      "2030-01-02T03:04:05.678Z warn  daemon careful\n",
      "2030-01-02T03:04:05.678Z error daemon broken\n",
      "2030-01-02T03:04:05.678Z debug daemon detail\n",
      "2030-01-02T03:04:05.678Z info  scheduler tick\n",
    ]);
  });

  test("cert and renewal follow the component when known", () => {
    const { log, lines } = capture();
    scoped(log, { component: "acme", cert: "www", renewal: "r-1" }).info("GET https://ca/dir 200 in 3 ms");
    scoped(log, { cert: "www" }).info("due");
    expect(lines).toEqual([
      "2030-01-02T03:04:05.678Z info  acme cert=www renewal=r-1 GET https://ca/dir 200 in 3 ms\n",
      "2030-01-02T03:04:05.678Z info  rota cert=www due\n",
    ]);
  });

  test("a multi-line message, an error with causes and terminal codes stay on one line", () => {
    const { log, lines } = capture();
    log.error("first\nsecond\r\n\u001b[31mred\u001b[39m\u2028end");
    log.error("failed:", new RotaError("ca_error", "acme x: refused", { cause: new Error("socket\nclosed") }));
    log.info({ answer: 42 }, ["a", "b"]);
    expect(lines).toEqual([
      "2030-01-02T03:04:05.678Z error rota first\\nsecond\\r\\n\\u001b[31mred\\u001b[39m\\u2028end\n",
      "2030-01-02T03:04:05.678Z error rota failed: acme x: refused: socket\\nclosed\n",
      "2030-01-02T03:04:05.678Z info  rota { answer: 42 } [ 'a', 'b' ]\n",
    ]);
  });

  test("repeats are all written, at once", () => {
    const { log, lines } = capture();
    for (let i = 0; i < 8; i++) log.warn("same");
    expect(lines).toHaveLength(8);
  });
});

describe("JSON", () => {
  test("one object per line with the six fields; unknown cert and renewal are null", () => {
    const { log, lines } = capture({ format: "json", level: "debug", component: "daemon" });
    log.info("listening");
    scoped(log.withTag("pipeline"), { cert: "www", renewal: "r-1" }).debug("child started (pid 12)");
    log.success("multi\nline");
    expect(lines).toEqual([
      '{"time":"2030-01-02T03:04:05.678Z","level":"info","component":"daemon","cert":null,"renewal":null,"msg":"listening"}\n',
      '{"time":"2030-01-02T03:04:05.678Z","level":"debug","component":"pipeline","cert":"www","renewal":"r-1","msg":"child started (pid 12)"}\n',
      '{"time":"2030-01-02T03:04:05.678Z","level":"info","component":"daemon","cert":null,"renewal":null,"msg":"multi\\nline"}\n',
    ]);
  });

  test("a scoped logger's tag and context carry to its own children", () => {
    const { log, lines } = capture({ format: "json" });
    const child = scoped(log, { component: "renewal", cert: "www", renewal: "r-2" });
    scoped(child, { component: "acme" }).info("x");
    child.withTag("step").info("y");
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { time: "2030-01-02T03:04:05.678Z", level: "info", component: "acme", cert: "www", renewal: "r-2", msg: "x" },
      { time: "2030-01-02T03:04:05.678Z", level: "info", component: "renewal:step", cert: "www", renewal: "r-2", msg: "y" },
    ]);
  });

  test("a line that names no cert gets the one `current` gives: a warm backend logs under the renewal it serves", () => {
    let now: { cert?: string; renewal?: string } = {};
    const { log, lines } = capture({ format: "json", current: () => now });
    const acme = scoped(log, { component: "acme" });
    acme.info("before");
    now = { cert: "www", renewal: "r-3" };
    acme.info("during");
    scoped(log, { cert: "api", renewal: "r-4" }).info("its own");
    expect(lines.map((l) => JSON.parse(l)).map(({ cert, renewal, msg }) => ({ cert, renewal, msg }))).toEqual([
      { cert: null, renewal: null, msg: "before" },
      { cert: "www", renewal: "r-3", msg: "during" },
      { cert: "api", renewal: "r-4", msg: "its own" },
    ]);
  });
});

describe("levels", () => {
  const all = (options: LoggerOptions) => {
    const { log, lines } = capture({ format: "json", ...options });
    log.debug("d");
    log.info("i");
    log.success("s");
    log.warn("w");
    log.error("e");
    return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  };

  test.each([
    ["debug", ["d", "i", "s", "w", "e"]],
    ["info", ["i", "s", "w", "e"]],
    ["warn", ["w", "e"]],
    ["error", ["e"]],
    ["silent", []],
  ] as const)("%s writes %j", (level, msgs) => {
    expect(all({ level })).toEqual([...msgs]);
  });

  test("info is the default", () => {
    expect(all({})).toEqual(["i", "s", "w", "e"]);
  });
});

describe("logSettings", () => {
  test("the command line wins over the environment, which wins over the defaults", () => {
    expect(logSettings({}, {})).toEqual({ level: "info", format: "text" });
    expect(logSettings({}, { ROTA_LOG_LEVEL: "warn", ROTA_LOG_FORMAT: "json" })).toEqual({ level: "warn", format: "json" });
    expect(logSettings({ level: "debug", format: "text" }, { ROTA_LOG_LEVEL: "warn", ROTA_LOG_FORMAT: "json" })).toEqual({ level: "debug", format: "text" });
    expect(logSettings({}, { ROTA_LOG_LEVEL: "", ROTA_LOG_FORMAT: "" })).toEqual({ level: "info", format: "text" });
  });

  test("the environment's values are read case-insensitively", () => {
    expect(logSettings({}, { ROTA_LOG_LEVEL: "DEBUG", ROTA_LOG_FORMAT: "Json" })).toEqual({ level: "debug", format: "json" });
  });

  test.each([
    [{ ROTA_LOG_LEVEL: "verbose" }, 'ROTA_LOG_LEVEL must be one of debug, info, warn, error, not "verbose"'],
    [{ ROTA_LOG_FORMAT: "JSONL" }, 'ROTA_LOG_FORMAT must be one of text, json, not "JSONL"'],
  ])("a bad environment value names the variable: %j", (env, message) => {
    expect(() => logSettings({}, env)).toThrow(message);
  });
});
