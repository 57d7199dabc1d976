/**
 * @module Terminal safety of what the CLI prints: vendor and receiver text stored by the
 * daemon (a Namecheap error with cursor moves and a window-title sequence, a webhook's 403
 * body) shows escaped in `rota audit`, `rota alerts`, `rota alert test` and an exit line,
 * and `--json` stays JSON that parses back to the same text.
 */
import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "citty";
import type { DeliveryJson, RenewalJson, TestResultJson } from "../api/json.ts";
import alert from "./commands/alert.ts";
import alerts from "./commands/alerts.ts";
import audit from "./commands/audit.ts";
import { CliExit } from "./exit.ts";
import { terminalSafe } from "./output.ts";
import { table } from "./table.ts";

/** Erase the line, cursor up, green, set the window title (OSC … BEL), a C1 CSI, DEL. */
const HOSTILE = "namecheap: \u001b[2K\u001b[1A\u001b[32mall good\u001b]0;pwned\u0007 \u009b31m\u007f";
const SHOWN = "namecheap: \\u001b[2K\\u001b[1A\\u001b[32mall good\\u001b]0;pwned\\u0007 \\u009b31m\\u007f";
/** Any control character a terminal acts on. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("terminalSafe", () => {
  test("escapes C0 but tab and newline, DEL and C1; leaves other text alone", () => {
    expect(terminalSafe(HOSTILE)).toBe(SHOWN);
    expect(terminalSafe("a\tb\nc\rd\u0000")).toBe("a\tb\nc\\rd\\u0000");
    expect(terminalSafe("bücher.example — ok ✓")).toBe("bücher.example — ok ✓");
    // Escaping twice changes nothing more: a cell escaped by table() survives say().
    expect(terminalSafe(terminalSafe(HOSTILE))).toBe(SHOWN);
  });

  test("table measures the cells as shown", () => {
    expect(table(["A", "B"], [["\u001b[1m", "x"], ["ok", "y"]])).toBe("A          B\n\\u001b[1m  x\nok         y");
  });
});

const renewal: RenewalJson = {
  id: "r1",
  cert_id: "www",
  trigger: "manual",
  status: "failed",
  started_at: "2030-01-01T00:00:00.000Z",
  finished_at: "2030-01-01T00:00:01.000Z",
  error: HOSTILE,
  install_only: false,
  reason: null,
  node: null,
  events: [{ step: "publish", at: "2030-01-01T00:00:01.000Z", status: "failed", message: HOSTILE, duration_ms: 12 }],
} as RenewalJson;
const delivery: DeliveryJson = { alert_id: "a1", sink: "hook", event: "alert.test", cert_id: null, at: "2030-01-01T00:00:00.000Z", outcome: "failed", error: `webhook hook: HTTP 403: ${HOSTILE}`, attempts: 1 };
const tested: TestResultJson[] = [{ sink: "hook", outcome: "failed", error: `webhook hook: HTTP 403: ${HOSTILE}`, attempts: 1 }];

let dir: string;
let socket: string;
let server: ReturnType<typeof Bun.serve>;
let printed: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-cli-output-"));
  socket = join(dir, "rota.sock");
  server = Bun.serve({
    unix: socket,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/api/renewals") return Response.json([renewal]);
      if (path === "/api/alerts") return Response.json([delivery]);
      if (path === "/api/alerts/test") return Response.json(tested);
      return Response.json({ error: "not found" }, { status: 404 });
    },
  });
});
afterAll(async () => {
  await server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

function capture(): void {
  printed = [];
  spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)));
}
afterEach(() => {
  (console.log as unknown as { mockRestore?: () => void }).mockRestore?.();
});

describe("commands print daemon-stored text escaped", () => {
  test("rota audit", async () => {
    capture();
    await runCommand(audit, { rawArgs: ["--socket", socket] });
    const out = printed.join("\n");
    expect(out).not.toMatch(RAW);
    expect(out).toContain(`  error: ${SHOWN}`);
    expect(out).toContain(`  publish         failed       12ms  ${SHOWN}`);
  });

  test("rota alerts", async () => {
    capture();
    await runCommand(alerts, { rawArgs: ["--socket", socket] });
    expect(printed.join("\n")).not.toMatch(RAW);
    expect(printed.join("\n")).toContain(`webhook hook: HTTP 403: ${SHOWN}`);
  });

  test("rota alert test", async () => {
    capture();
    const err = await runCommand(alert, { rawArgs: ["test", "--socket", socket] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliExit);
    expect(printed).toEqual([`hook: failed: webhook hook: HTTP 403: ${SHOWN}`]);
  });

  test("--json is JSON with every control character escaped, and reads back the same", async () => {
    capture();
    await runCommand(audit, { rawArgs: ["--json", "--socket", socket] });
    expect(printed.join("\n")).not.toMatch(RAW);
    expect(JSON.parse(printed.join("\n"))).toEqual([renewal]);
    capture();
    await runCommand(alerts, { rawArgs: ["--json", "--socket", socket] });
    expect(printed.join("\n")).not.toMatch(RAW);
    expect(JSON.parse(printed.join("\n"))).toEqual([delivery]);
  });
});
