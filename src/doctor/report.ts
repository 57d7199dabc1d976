/**
 * @module What `rota doctor` found, and how it is told: one line per check
 * (`ok|warn|FAIL|skip  <id>  <message>`, then `hint: …` lines), or `--json`; and the exit
 * code, a pure function of the findings (issue 15 §5: first match wins).
 */
import type { CheckResult } from "../backends/types.ts";

export interface Finding extends CheckResult {
  /** `config`, `state_dir`, `keys`, `audit`, `daemon`, or `ca:NAME`, `dcv:NAME`, `install:NAME`, `alert:NAME`. */
  id: string;
}

export const DOCTOR_EXIT = { ok: 0, failed: 1, config: 2, unreachable: 3, unknownCert: 4 } as const;

/** Facts beside the findings that decide the exit code. */
export interface Outcome {
  configInvalid: boolean;
  unknownCert: boolean;
  daemonUnreachable: boolean;
}

/** 2 config or usage error; 4 unknown CERT_ID; 1 any FAIL; 3 daemon unreachable; 0 otherwise (warnings allowed). */
export function exitCode(findings: readonly Finding[], o: Outcome): number {
  if (o.configInvalid) return DOCTOR_EXIT.config;
  if (o.unknownCert) return DOCTOR_EXIT.unknownCert;
  if (findings.some((f) => f.status === "fail")) return DOCTOR_EXIT.failed;
  if (o.daemonUnreachable) return DOCTOR_EXIT.unreachable;
  return DOCTOR_EXIT.ok;
}

const LABEL: Record<CheckResult["status"], string> = { ok: "ok", warn: "warn", fail: "FAIL", skip: "skip" };

/** The text report: `hint:` lines start the line, as the issue writes them; a hint of several lines continues indented under its text. */
export function renderText(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${LABEL[f.status]}  ${f.id}  ${f.message}`);
    if (f.hint === undefined) continue;
    const [first, ...rest] = f.hint.split("\n");
    lines.push(`hint: ${first}`);
    for (const line of rest) lines.push(`      ${line}`);
  }
  return lines.join("\n");
}

/** `{"ok","exit_code","checks":[{"id","status","message","hint"}]}`; `hint` is null when there is none. */
export function renderJson(findings: readonly Finding[], code: number): string {
  const checks = findings.map((f) => ({ id: f.id, status: f.status, message: f.message, hint: f.hint ?? null }));
  return JSON.stringify({ ok: code === DOCTOR_EXIT.ok, exit_code: code, checks }, null, 2);
}
