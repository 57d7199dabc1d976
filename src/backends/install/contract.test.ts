/** @module The contract's broken-target answers, run on an in-memory target that can be taken down. */
import { RotaError } from "../../errors.ts";
import type { ReadableInstall } from "../types.ts";
import { runInstallContract } from "./contract.ts";

function memoryTarget(): { backend: ReadableInstall; set: (down: boolean) => void; damage: (certId: string) => void } {
  const leaves = new Map<string, string>();
  let down = false;
  const reachable = (signal: AbortSignal) => {
    if (signal.aborted) throw new RotaError("aborted", "memory m: cancelled");
    if (down) throw new RotaError("unreachable", "memory m: the target does not answer");
  };
  return {
    backend: {
      name: "m",
      async install(req, signal) {
        reachable(signal);
        leaves.set(req.certId, req.leafPem);
      },
      async readBack(certId, signal) {
        reachable(signal);
        const leaf = leaves.get(certId);
        if (leaf === undefined) return { state: "absent" };
        return leaf === "" ? { state: "damaged", reason: "empty" } : { state: "present", leafPem: leaf };
      },
    },
    set: (d) => void (down = d),
    damage: (certId) => void leaves.set(certId, ""),
  };
}

runInstallContract(
  "an in-memory target that can be taken down",
  true,
  () => {
    const t = memoryTarget();
    return { backend: t.backend, damage: t.damage, breakTarget: () => t.set(true), mendTarget: () => t.set(false) };
  },
  { breakable: true },
);
