/**
 * @module What a renewal's worker left unsaid when it ended without an outcome (killed,
 * crashed, stopped past its deadline): the step it had started and never ended. The pipeline
 * records a step when it ends (renewer.ts), so without this the audit row would stop at the
 * step before, though the worker may already have written the targets.
 */
import type { RotaEvent, StepName } from "../events.ts";
import type { ChildLine, GroupLine, OutcomeLine } from "./child-protocol.ts";

export class OpenStep {
  private open: { step: StepName; at: Date } | null = null;
  /** Targets whose install the worker recorded in this renewal, in order. */
  private readonly installed: string[] = [];

  /** `targets`: the names the renewal installs on (its cert's, or the install-only ones). */
  constructor(
    private readonly renewalId: string,
    private readonly certId: string,
    private readonly targets: readonly string[],
  ) {}

  /** Follows one line of the worker's, in the order they came. */
  seen(line: Exclude<ChildLine, OutcomeLine | GroupLine>): void {
    if ("store" in line) {
      if (line.store === "installed") this.installed.push(line.installed.target);
      return;
    }
    const e = line.event;
    if (e.type === "renewal.step_started" && e.renewalId === this.renewalId) this.open = { step: e.step, at: e.at };
    else if (e.type === "renewal.step" && e.renewalId === this.renewalId) this.open = null;
  }

  /**
   * The event that ends the open step as failed, saying how the worker ended (`how`) and, in
   * the install step, which targets recorded the install and which may or may not have been
   * written; null when no step was open.
   */
  interrupted(how: string, now: Date): Extract<RotaEvent, { type: "renewal.step" }> | null {
    if (!this.open) return null;
    const { step, at } = this.open;
    let message = `the renewal process ended during this step (${how})`;
    if (step === "install") {
      const unknown = this.targets.filter((t) => !this.installed.includes(t));
      if (this.installed.length > 0) message += `; installed on ${this.installed.join(", ")}`;
      if (unknown.length > 0) message += `; not known whether ${unknown.join(", ")} ${unknown.length === 1 ? "holds" : "hold"} the new certificate: the next look reads back what ${unknown.length === 1 ? "it serves" : "they serve"}`;
    }
    this.open = null;
    return { type: "renewal.step", renewalId: this.renewalId, certId: this.certId, step, status: "failed", message, durationMs: Math.max(0, now.getTime() - at.getTime()), at: now };
  }
}
