/**
 * @module The one systemd drop-in `rota doctor` prints (issue 15 §3, docs/install.md): every
 * finding's `dropIn` merged — folders and capabilities each listed once — and shown under
 * the first finding that needs it; the later ones point back to it. Two files named
 * `targets.conf`, copied in turn, would leave only the second.
 */
import type { DropInNeed } from "../backends/types.ts";
import type { Finding } from "./report.ts";

export const DROP_IN_PATH = "/etc/systemd/system/rota.service.d/targets.conf";

/** docs/install.md's order; a capability it does not list follows, in the order first needed. */
const CAPABILITY_ORDER = ["CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/** The `[Service]` section granting every need: each folder and capability once, in order. */
export function renderDropIn(needs: readonly DropInNeed[]): string[] {
  const paths = [...new Set(needs.flatMap((n) => n.paths))];
  const seen = [...new Set(needs.flatMap((n) => n.capabilities))];
  const rank = (c: string) => (CAPABILITY_ORDER.includes(c) ? CAPABILITY_ORDER.indexOf(c) : CAPABILITY_ORDER.length + seen.indexOf(c));
  const caps = seen.sort((a, b) => rank(a) - rank(b)).join(" ");
  return ["[Service]", ...(paths.length > 0 ? [`ReadWritePaths=${paths.join(" ")}`] : []), ...(caps ? [`AmbientCapabilities=${caps}`, `CapabilityBoundingSet=${caps}`] : [])];
}

/**
 * The findings with their `dropIn` turned into hints: the first that has one shows the merged
 * drop-in after its own fixes, each later one names where it is shown. No `dropIn` is left.
 */
export function withDropIn(findings: readonly Finding[]): Finding[] {
  const needs = findings.flatMap((f) => (f.dropIn ? [f.dropIn] : []));
  const firstAt = findings.findIndex((f) => f.dropIn !== undefined);
  return findings.map(({ dropIn, ...f }, i) => {
    if (dropIn === undefined) return f;
    const part =
      i === firstAt
        ? [`under systemd, add ${DROP_IN_PATH} (one file, for every finding that needs it):`, ...renderDropIn(needs), "then: systemctl daemon-reload && systemctl restart rota (docs/install.md)"].join("\n")
        : `under systemd, the drop-in ${DROP_IN_PATH} shown under ${findings[firstAt]!.id} above covers this too`;
    return { ...f, hint: f.hint === undefined ? part : `${f.hint}; or ${part}` };
  });
}
