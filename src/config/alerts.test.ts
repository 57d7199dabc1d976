/** @module `[[alert]]` sections and `[daemon] expiry_warning_days`: the keys every sink has, read before the sink type's own. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALERT_TYPES } from "../backends/registry.ts";
import { ConfigError, parseConfigText } from "./load.ts";
import type { RotaConfig } from "./schema.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-alert-config-"));
const FILE = join(dir, "rota.toml");
const BASE = `[[ca]]\nname = "internal"\ntype = "local"\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "out"\n\n[[cert]]\nid = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = "files"\n`;

// The real sink types live in their own folders; this one reads a single key of its own.
beforeAll(() => {
  ALERT_TYPES.fake = {
    parse: (r) => ({ target: r.string("target", { required: true }) }),
    create: async (name) => ({ name, send: async () => {} }),
  };
});
afterAll(() => {
  delete ALERT_TYPES.fake;
  rmSync(dir, { recursive: true, force: true });
});

const load = (text: string): RotaConfig => parseConfigText(new TextEncoder().encode(BASE + text), FILE, {});
function problemsOf(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test("defaults: the failure, recovery, action-required and halt events, every severity, a day between reminders, 14 warning days", () => {
  const config = load(`\n[[alert]]\nname = "a1"\ntype = "fake"\ntarget = "x"\n`);
  expect(config.daemon.expiryWarningDays).toBe(14);
  expect(config.alerts).toEqual([
    { name: "a1", type: "fake", options: { target: "x" }, events: ["renewal.failed", "cert.expiring", "cert.recovered", "target.action_required", "cert.halted", "store.disconnected", "store.reconnected", "cluster.leader_acquired", "cluster.leader_lost", "cluster.install_refused"], minSeverity: "info", repeatIntervalHours: 24 },
  ]);
});

test("no [[alert]]: no sinks", () => {
  expect(load("").alerts).toEqual([]);
});

test("events, min_severity and repeat_interval_hours as given; * is every event", () => {
  const config = load(
    `[daemon]\nexpiry_warning_days = 7\n\n[[alert]]\nname = "a1"\ntype = "fake"\ntarget = "x"\nevents = ["cert.expiring"]\nmin_severity = "critical"\nrepeat_interval_hours = 2\n\n[[alert]]\nname = "a2"\ntype = "fake"\ntarget = "y"\nevents = ["*"]\n`.replace(/^/, ""),
  );
  expect(config.daemon.expiryWarningDays).toBe(7);
  expect(config.alerts.map((a) => [a.events, a.minSeverity, a.repeatIntervalHours])).toEqual([
    [["cert.expiring"], "critical", 2],
    [["renewal.failed", "cert.expiring", "cert.recovered", "renewal.succeeded", "target.action_required", "cert.halted", "cert.resumed", "store.disconnected", "store.reconnected", "cluster.leader_acquired", "cluster.leader_lost", "cluster.install_refused"], "info", 24],
  ]);
});

test("each broken common key is named under its path", () => {
  expect(
    problemsOf(
      `[daemon]\nexpiry_warning_days = 0\n\n[[alert]]\nname = "a1"\ntype = "fake"\ntarget = "x"\nevents = ["renewal.failed", "cert.exploded", "renewal.failed"]\nmin_severity = "loud"\nrepeat_interval_hours = 0\n\n[[alert]]\nname = "a1"\ntype = "pager"\n\n[[alert]]\nname = "a3"\ntype = "fake"\nevents = ["*", "cert.expiring"]\n\n[[alert]]\nname = "a4"\ntype = "fake"\ntarget = "z"\nevents = []\n`,
    ),
  ).toEqual([
    "daemon.expiry_warning_days: must be between 1 and 3650",
    'alert[0].events[1]: unknown event "cert.exploded" (known: renewal.failed, cert.expiring, cert.recovered, renewal.succeeded, target.action_required, cert.halted, cert.resumed, store.disconnected, store.reconnected, cluster.leader_acquired, cluster.leader_lost, cluster.install_refused, or "*" for all)',
    'alert[0].events[2]: "renewal.failed" is listed twice',
    'alert[0].min_severity: "loud" is not one of info, warning, critical',
    "alert[0].repeat_interval_hours: must be between 1 and 8760",
    'alert[1].name: duplicate alert name "a1"',
    'alert[1].type: unknown alert type "pager" (known: email, webhook, fake)',
    'alert[2].events: "*" stands for every event and comes alone',
    "alert[2].target: is required",
    'alert[3].events: must not be empty (known: renewal.failed, cert.expiring, cert.recovered, renewal.succeeded, target.action_required, cert.halted, cert.resumed, store.disconnected, store.reconnected, cluster.leader_acquired, cluster.leader_lost, cluster.install_refused, or "*" for all)',
  ]);
});
