/**
 * @module The dsm target's self-check (`rota doctor`): the latch first (while it is set,
 * nothing is sent to DSM, as for a renewal); then discover, log in, list and log out, and
 * which entry an install would replace, or that it will be created. A refused login is a
 * finding and never sets the latch: doctor writes nothing.
 */
import { describeError } from "../../../errors.ts";
import type { Clock } from "../../../clock.ts";
import type { Logger } from "../../../log.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import { DsmApiError } from "./client.ts";
import type { DsmConfig } from "./config.ts";
import { latchFix, latches } from "./errors.ts";
import { pickEntry } from "./pick.ts";
import { clientFor, logout, password } from "./session.ts";
import type { DsmState } from "./state.ts";

export interface DsmCheckDeps {
  state: DsmState;
  clock: Clock;
  log: Logger;
}

export async function checkDsm(name: string, cfg: DsmConfig, d: DsmCheckDeps, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const block = d.state.block();
  if (block !== null) {
    return [
      {
        status: "fail",
        message: `latched: login refused at ${block.at} (${block.message}); nothing is sent to DSM until \`rota dsm login ${name}\` succeeds`,
        hint: latchFix(block.code, name),
      },
    ];
  }
  const latch: CheckResult = { status: "ok", message: "not latched" };
  const results = await contact(name, cfg, d, signal, ctx);
  const insecure: CheckResult[] = cfg.insecureSkipVerify ? [{ status: "warn", message: `TLS certificate of ${cfg.url} is NOT verified (insecure_skip_verify = true)`, hint: "trust DSM's CA with ca_bundle instead" }] : [];
  return [...results, latch, ...insecure];
}

async function contact(name: string, cfg: DsmConfig, d: DsmCheckDeps, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const who = `dsm ${name}`;
  if (ctx.offline) return [{ status: "skip", message: `offline: ${cfg.url} not contacted` }];
  let entryLine: string;
  try {
    const passwd = password(name, cfg);
    const client = clientFor(name, cfg, d.clock);
    const apis = await client.discover(signal);
    const device = d.state.device();
    let session;
    try {
      session = await client.login(apis, { account: cfg.username, passwd, deviceName: device?.device_name || cfg.deviceName, ...(device && { deviceId: device.device_id }) }, signal);
    } catch (err) {
      const person = err instanceof DsmApiError && latches(err.dsmCode);
      return [
        {
          status: "fail",
          message: `login refused: ${describeError(err)}`,
          hint: person ? `a renewal would latch this target: ${latchFix(err.dsmCode, name)}` : `check url and the network; then: rota dsm login ${name}`,
        },
      ];
    }
    try {
      const entry = pickEntry(await client.list(apis, session, signal), cfg, d.state.installed()?.record.id, who);
      entryLine = entry === undefined ? `certificate ${JSON.stringify(cfg.description)} not in DSM: will be created` : `certificate ${JSON.stringify(entry.desc)} id ${entry.id}`;
    } finally {
      await logout({ name, clock: d.clock, log: d.log }, client, apis, session);
    }
  } catch (err) {
    return [{ status: "fail", message: describeError(err) }];
  }
  return [{ status: "ok", message: `logged in to ${cfg.url} as ${cfg.username}; ${entryLine}` }];
}
