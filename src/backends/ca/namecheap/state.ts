/**
 * @module The Namecheap CA's memory of one cert, `<state_dir>/namecheap/<ca>/<cert id>.json`
 * (0600, replaced atomically): which certificate id is current (a reissue makes a new one), the
 * request in flight, and whether the plan behind it is used up. Written before and after each
 * call that changes something at Namecheap, so a stop between the two is seen at the next renewal.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RotaError } from "../../../errors.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";
import type { DcvRecord } from "./replies.ts";

/** A request rota started: written before the call (`from_id`, `csr`), completed after it. */
export interface PendingRequest {
  /** The certificate id the call was made on. */
  from_id: number;
  /** `reissue` or `activate`. */
  command: string;
  csr: string;
  started_at: string;
  /** The id the request runs on (a reissue's new id); unset while the reply has not come. */
  certificate_id?: number;
  /** The CNAMEs the reply asked for. */
  records?: DcvRecord[];
  /** notAfter of the leaf the reissue replaces (ISO), to tell a reissue that gained no time. */
  previous_not_after?: string;
}

export interface CertState {
  configured_id: number;
  current_id: number;
  pending: PendingRequest | null;
  /** Set when the last reissue was cut short by the plan's end: the id it was seen on. */
  plan_used_up?: number;
}

export class StateFile {
  readonly path: string;

  constructor(
    private readonly dir: string,
    certId: string,
    private readonly who: string,
  ) {
    this.path = join(dir, `${certId}.json`);
  }

  /** The state for `configuredId`: a fresh one when the file is missing or was kept for another configured id. */
  load(configuredId: number): CertState {
    const fresh: CertState = { configured_id: configuredId, current_id: configuredId, pending: null };
    const state = this.read();
    return state && state.configured_id === configuredId ? state : fresh;
  }

  /** The file as it is, or null when there is none. */
  read(): CertState | null {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new RotaError("state_unreadable", `${this.who}: cannot read ${this.path}`, { cause: err });
    }
    let state: CertState;
    try {
      state = JSON.parse(text) as CertState;
    } catch (err) {
      throw new RotaError("state_unreadable", `${this.who}: ${this.path} is not JSON; fix or remove it`, { cause: err, noRetry: true });
    }
    if (typeof state.current_id !== "number" || typeof state.configured_id !== "number") {
      throw new RotaError("state_unreadable", `${this.who}: ${this.path} lacks configured_id or current_id; fix or remove it`, { noRetry: true });
    }
    return { ...state, pending: state.pending ?? null };
  }

  save(state: CertState): void {
    ensureDir(this.dir, 0o700);
    writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }
}
