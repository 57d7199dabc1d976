/**
 * @module What a cert's orders are made from, as one fingerprint: its `[[cert]]` keys that
 * shape an order (names, CA, CA options such as `profile`, key, DCV) and the `[[ca]]` and
 * `[[dcv]]` sections it names. The runner keeps it beside a failure's cooldown; when the
 * config's differs (a reload, or a restart on an edited file), the operator changed what
 * failed, and the cooldown ends at once (scheduler.ts). Install targets, thresholds and the
 * daemon's settings are not in it: changing them does not change what the CA is asked.
 */
import type { RotaConfig } from "../config/schema.ts";
import { certSections } from "../pipeline/cert-sections.ts";
import type { CertState } from "../store/types.ts";

/** The fingerprint of `certId`'s order inputs in `config`; null when the config has no such cert. */
export function orderInputs(config: RotaConfig, certId: string): string | null {
  let sections;
  try {
    sections = certSections(config, certId);
  } catch {
    return null;
  }
  const { id: _id, install: _install, renewThresholdDays: _threshold, ...cert } = sections.cert;
  return new Bun.CryptoHasher("sha256").update(canonical({ cert, ca: sections.ca, dcv: sections.dcv })).digest("base64url");
}

/**
 * The failure states whose cooldown a config change ends: cooling down at `now`, not halted
 * (only `--force` ends a halt), their failed run's inputs known (a state from before rota kept
 * them is left alone) and not those `inputsOf` gives now (null: no such cert any more, left alone).
 */
export function cooldownsEnded(states: Iterable<CertState>, now: Date, inputsOf: (certId: string) => string | null): (CertState & { retryAt: Date })[] {
  const ended: (CertState & { retryAt: Date })[] = [];
  for (const s of states) {
    if (!s.retryAt || s.retryAt <= now || s.haltedAt || s.inputs === undefined) continue;
    const inputs = inputsOf(s.certId);
    if (inputs !== null && inputs !== s.inputs) ended.push({ ...s, retryAt: s.retryAt });
  }
  return ended;
}

/** JSON with every object's keys sorted: keys written in another order in the file are the same inputs. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
