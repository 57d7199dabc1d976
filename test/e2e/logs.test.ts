/**
 * End to end, on the local CA: the daemon's log as journald, Loki or a log viewer reads
 * it. With `--log-format json --log-level debug` every line is one JSON object with the
 * six fields, the renewal worker logs in the same format, and the debug lines an
 * operator needs are there; `--debug` and the environment also set them; bad log
 * settings are usage errors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { localCaConfig, waitForFile } from "./helpers.ts";

interface LogLine {
  time: string;
  level: string;
  component: string;
  cert: string | null;
  renewal: string | null;
  msg: string;
}

let dir: string;
let config: string;
let daemon: Daemon;

beforeAll(async () => {
  dir = makeTempDir("rota-logs-");
  config = join(dir, "rota.toml");
  writeFileSync(config, localCaConfig());
  daemon = startDaemon(config, { args: ["daemon", "--config", config, "--log-format", "json", "--log-level", "debug"] });
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
  await daemon.waitForOutput(/install ok in/);
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

/** The log so far, every line parsed; a line that is not a JSON object fails the test. */
function lines(): LogLine[] {
  return daemon
    .output()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const parsed = JSON.parse(l) as unknown;
      expect(parsed).toBeObject();
      return parsed as LogLine;
    });
}

describe("--log-format json --log-level debug", () => {
  test("every line is one object with time, level, component, cert, renewal and msg", () => {
    const all = lines();
    expect(all.length).toBeGreaterThan(5);
    for (const line of all) {
      expect(Object.keys(line)).toEqual(["time", "level", "component", "cert", "renewal", "msg"]);
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(["debug", "info", "warn", "error"]).toContain(line.level);
      expect(line.component).toMatch(/^[a-z:]+$/);
      expect(line.cert === null || typeof line.cert === "string").toBe(true);
      expect(line.renewal === null || typeof line.renewal === "string").toBe(true);
      expect(typeof line.msg).toBe("string");
    }
    expect(all.find((l) => l.msg.includes("listening on"))).toMatchObject({ level: "info", component: "daemon", cert: null, renewal: null });
  });

  test("each cert's decision at each tick, from the scheduler, with its cert", async () => {
    await waitFor(() => lines().some((l) => l.component === "scheduler" && l.level === "debug" && /^app: none: ok: /.test(l.msg)), 10_000, 50, "a tick's decision line");
    const decision = lines().find((l) => l.component === "scheduler" && /^app: none: /.test(l.msg));
    expect(decision).toMatchObject({ level: "debug", cert: "app", renewal: null });
    expect(lines().find((l) => /^app: renewed, serial /.test(l.msg))).toMatchObject({ level: "info", component: "runner", cert: "app" });
  });

  test("a worker's start, and each renewal it runs, with its cert and renewal", () => {
    const all = lines();
    const started = all.find((l) => /^renewal process \d+ started$/.test(l.msg));
    const pid = started!.msg.split(" ")[2];
    const runs = all.find((l) => l.msg.startsWith("renewal ") && l.msg.includes(` runs in renewal process ${pid} (its renewal 1)`));
    // A worker serves many certs: its own lines name none.
    expect(started).toMatchObject({ level: "debug", component: "pipeline", cert: null, renewal: null });
    expect(runs).toMatchObject({ level: "debug", component: "pipeline", cert: "app" });
    expect(runs!.msg).toBe(`renewal ${runs!.renewal} runs in renewal process ${pid} (its renewal 1)`);
  });

  test("the renewal worker logs in the same format: each step with its time", () => {
    const steps = lines().filter((l) => l.component === "renewal" && l.level === "debug");
    expect(steps.map((l) => l.msg.split(" ")[0])).toEqual(["key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install"]);
    expect(steps[0]!.msg).toMatch(/^key ok in \d+ ms: generated ecdsa-p256 key at /);
    expect(steps.at(-1)!.msg).toMatch(/^install ok in \d+ ms: installed on files$/);
    for (const s of steps) expect(s.cert).toBe("app");
  });

  test("no private key (the cert's, the local CA's) is in any line", () => {
    const state = join(dir, "state");
    const keys = readdirSync(state, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".key"));
    expect(keys).toContain(join("keys", "app.key"));
    const log = daemon.output();
    for (const file of keys) {
      for (const part of readFileSync(join(state, file), "utf8").split("\n").filter((l) => l && !l.startsWith("-----"))) expect(log).not.toContain(part);
    }
  });
});

test("--debug is --log-level debug, and ROTA_LOG_FORMAT chooses the format", async () => {
  const other = makeTempDir("rota-logs-env-");
  const otherConfig = join(other, "rota.toml");
  writeFileSync(otherConfig, localCaConfig());
  const d = startDaemon(otherConfig, { args: ["daemon", "--config", otherConfig, "--debug"], env: { ROTA_LOG_FORMAT: "json", ROTA_LOG_LEVEL: "error" } });
  try {
    await d.waitForOutput(/install ok in/);
    const parsed = d
      .output()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as LogLine);
    expect(parsed.filter((l) => l.level === "debug" && l.component === "renewal").length).toBeGreaterThan(0);
  } finally {
    await d.stop();
    removeTempDir(other);
  }
});

describe("bad log settings are usage errors naming what is wrong", () => {
  test.each([
    [["--log-level", "loud"], {}, 'rota: option --log-level for "rota daemon" must be one of debug, info, warn, error, not "loud" (see rota daemon --help)'],
    [["--log-format", "xml"], {}, 'rota: option --log-format for "rota daemon" must be one of text, json, not "xml" (see rota daemon --help)'],
    [[], { ROTA_LOG_LEVEL: "loud" }, 'rota: ROTA_LOG_LEVEL must be one of debug, info, warn, error, not "loud"'],
    [[], { ROTA_LOG_FORMAT: "xml" }, 'rota: ROTA_LOG_FORMAT must be one of text, json, not "xml"'],
  ])("%j with %j", async (args, env, message) => {
    const r = await runRota(["daemon", "--config", config, ...args], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${message}\n`);
  });
});
