/** @module The step a dead worker left open: recorded as failed with how it ended and, in install, which targets are known. */
import { expect, test } from "bun:test";
import type { StepName } from "../events.ts";
import { OpenStep } from "./open-step.ts";

const t0 = new Date("2026-12-02T01:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const started = (step: StepName, s = 0, renewalId = "r1") => ({ event: { type: "renewal.step_started" as const, renewalId, certId: "c10", step, at: at(s) } });
const ended = (step: StepName, s: number) => ({ event: { type: "renewal.step" as const, renewalId: "r1", certId: "c10", step, status: "ok" as const, message: "", durationMs: 0, at: at(s) } });
const installed = (target: string) => ({ store: "installed" as const, installed: { certId: "c10", target, serial: "ab", installedAt: at(1) } });

test("no step open (none started, or the last one ended): nothing to record", () => {
  const open = new OpenStep("r1", "c10", ["files"]);
  expect(open.interrupted("killed by SIGKILL", at(5))).toBeNull();
  open.seen(started("persist"));
  open.seen(ended("persist", 1));
  expect(open.interrupted("killed by SIGKILL", at(5))).toBeNull();
});

test("a worker gone in the install step: the step fails saying how, which targets recorded the install and which are unknown", () => {
  const open = new OpenStep("r1", "c10", ["web", "files", "mail"]);
  open.seen(started("persist", 0));
  open.seen(ended("persist", 1));
  open.seen(started("install", 1));
  open.seen(installed("web"));
  expect(open.interrupted("killed by SIGKILL; its post_install_command (process group 42) killed", at(61))).toEqual({
    type: "renewal.step",
    renewalId: "r1",
    certId: "c10",
    step: "install",
    status: "failed",
    message:
      "the renewal process ended during this step (killed by SIGKILL; its post_install_command (process group 42) killed); installed on web; not known whether files, mail hold the new certificate: the next look reads back what they serve",
    durationMs: 60_000,
    at: at(61),
  });
  // Said once.
  expect(open.interrupted("killed by SIGKILL", at(62))).toBeNull();
});

test("one target, none recorded; another step says only how the worker ended; another renewal's events are not this one's", () => {
  const one = new OpenStep("r1", "c10", ["files"]);
  one.seen(started("install"));
  expect(one.interrupted("exit code 1", at(2))?.message).toBe(
    "the renewal process ended during this step (exit code 1); not known whether files holds the new certificate: the next look reads back what it serves",
  );
  const other = new OpenStep("r1", "c10", ["files"]);
  other.seen(started("await_issuance"));
  other.seen(started("install", 0, "r0"));
  expect(other.interrupted("killed by SIGKILL", at(2))).toMatchObject({ step: "await_issuance", message: "the renewal process ended during this step (killed by SIGKILL)" });
});
