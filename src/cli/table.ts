/** @module Plain aligned columns for terminal output. */
import type { StepJson } from "../api/json.ts";
import { terminalSafe } from "./output.ts";

/** Cells are made terminal-safe before they are measured: an escape sequence is wider shown than raw. */
export function table(header: string[], raw: string[][]): string {
  const rows = raw.map((r) => r.map(terminalSafe));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** One pipeline step as `audit` and `renew --wait` print it. */
export function stepLine(s: StepJson): string {
  return `  ${s.step.padEnd(15)} ${s.status.padEnd(8)} ${String(s.duration_ms).padStart(6)}ms  ${s.message}`;
}
