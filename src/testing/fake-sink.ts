/** @module An in-memory alert sink for tests: keeps what it received, and answers each attempt as the test scripts it. */
import type { Alert, AlertBackend } from "../backends/types.ts";
import { RotaError } from "../errors.ts";

/** How one attempt ends: accepted, refused with this error, or no answer until it is aborted. */
export type FakeAnswer = "ok" | RotaError | "hang";

export class FakeSink implements AlertBackend {
  /** Every alert an attempt was made with, in order. */
  readonly attempts: Alert[] = [];
  /** The alerts accepted. */
  readonly delivered: Alert[] = [];
  /** Attempts under way now, and the most at once. */
  running = 0;
  maxRunning = 0;
  private readonly waiters: Array<() => void> = [];

  /** `script` answers the attempts in order; once it runs out, every attempt succeeds. */
  constructor(
    readonly name: string,
    private readonly script: FakeAnswer[] = [],
  ) {}

  async send(alert: Alert, signal: AbortSignal): Promise<void> {
    this.attempts.push(alert);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    for (const wake of this.waiters.splice(0)) wake();
    try {
      const answer = this.script.shift() ?? "ok";
      if (answer === "hang") {
        await new Promise<void>((_, reject) => {
          const fail = () => reject(new RotaError("aborted", `${this.name}: cancelled`, { cause: signal.reason }));
          if (signal.aborted) fail();
          signal.addEventListener("abort", fail, { once: true });
        });
      }
      if (answer instanceof RotaError) throw answer;
      this.delivered.push(alert);
    } finally {
      this.running--;
    }
  }

  /** Resolves once `n` attempts have been made. */
  async attempted(n: number): Promise<void> {
    while (this.attempts.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}
