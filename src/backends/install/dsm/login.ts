/**
 * @module What `rota dsm login NAME` does (issue 14): a login with the password; on DSM's
 * 403, a second one with the 2-step code that asks for a device token, which is stored so
 * later logins need no code; then a list (proving the account may manage certificates), a
 * logout, and the latch cleared. The password, code, session and device id never reach
 * the returned line or a message.
 */
import type { Clock } from "../../../clock.ts";
import { describeError, RotaError } from "../../../errors.ts";
import type { Logger } from "../../../log.ts";
import { DsmApiError, type DsmSession } from "./client.ts";
import type { DsmConfig } from "./config.ts";
import { pickEntry } from "./pick.ts";
import { clientFor, logout, password } from "./session.ts";
import { DsmState } from "./state.ts";

/** DSM's "2-step verification code needed". */
const OTP_NEEDED = 403;

export interface DsmLoginDeps {
  stateDir: string;
  clock: Clock;
  log: Logger;
  /** The 2-step code, asked only when DSM wants one. */
  otp: () => Promise<string>;
}

/** What the command prints: `line` on success; `refusal` too when the login worked but installs will refuse (exit 1). */
export interface DsmLoginResult {
  line: string;
  refusal: string | null;
}

/** Logs in as the target would, and says what the command prints. */
export async function dsmLogin(name: string, cfg: DsmConfig, deps: DsmLoginDeps, signal: AbortSignal): Promise<DsmLoginResult> {
  const who = `dsm ${name}`;
  const state = new DsmState(deps.stateDir, name, who);
  const client = clientFor(name, cfg, deps.clock);
  const passwd = password(name, cfg);
  const apis = await client.discover(signal);
  const base = { account: cfg.username, passwd, deviceName: cfg.deviceName };
  let session: DsmSession;
  let stored = false;
  try {
    session = await client.login(apis, base, signal);
  } catch (err) {
    if (!(err instanceof DsmApiError && err.dsmCode === OTP_NEEDED)) throw err;
    const otpCode = (await deps.otp()).trim();
    session = await client.login(apis, { ...base, otpCode }, signal);
    if (session.deviceId === undefined) {
      await logout({ name, clock: deps.clock, log: deps.log }, client, apis, session);
      throw new RotaError("dsm_protocol", `${who}: DSM accepted the code but returned no device token`);
    }
    state.saveDevice({ device_id: session.deviceId, device_name: cfg.deviceName });
    stored = true;
  }
  let certificate: string | null = null;
  let refusal: string | null = null;
  try {
    const list = await client.list(apis, session, signal);
    try {
      const entry = pickEntry(list, cfg, state.installed()?.record.id, who);
      certificate =
        entry === undefined
          ? `certificate ${JSON.stringify(cfg.description)} not in DSM yet (the next install creates it)`
          : `certificate ${JSON.stringify(entry.desc)} id ${entry.id} (default: ${entry.is_default ? "yes" : "no"})`;
    } catch (err) {
      // The login works, so the latch goes; but the next install would fail on this, and an exit 0 would hide it.
      refusal = `${describeError(err)}; the login works, but installs will fail until this is fixed`;
    }
  } finally {
    await logout({ name, clock: deps.clock, log: deps.log }, client, apis, session);
  }
  state.clearBlock();
  const line = `logged in to ${cfg.url} as ${cfg.username}${stored ? "; device token stored" : ""}${certificate ? `; ${certificate}` : ""}`;
  return { line, refusal };
}
