/** @module What every DNS-01 backend does with a challenge before touching its vendor's API. */
import { RotaError } from "../../errors.ts";
import type { DcvChallenge } from "../types.ts";

export type Dns01Challenge = Extract<DcvChallenge, { kind: "dns-01" }>;

/** The challenge as DNS-01, or a no-retry `unsupported` error prefixed by `who`. */
export function asDns01(challenge: DcvChallenge, who: string): Dns01Challenge {
  if (challenge.kind !== "dns-01") throw new RotaError("unsupported", `${who}: cannot solve ${challenge.kind}`, { noRetry: true });
  return challenge;
}
