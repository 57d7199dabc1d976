/**
 * @module One DSM session around a piece of work: discover, log in (with the stored device
 * token), the work, log out in a `finally`. A session DSM dropped (106, 107, 119) is
 * replaced once. A login only a person can fix sets the latch, tells the operator once
 * (`target.action_required`), and from then on no session is opened until `rota dsm login`
 * clears it: repeated bad logins trip DSM's auto block.
 */
import { readFileSync } from "node:fs";
import type { Clock } from "../../../clock.ts";
import { readSecret } from "../../../config/secret.ts";
import { describeError, RotaError } from "../../../errors.ts";
import type { Logger } from "../../../log.ts";
import { sleepOn } from "../../../sleep.ts";
import { DsmApiError, DsmClient, isConnectionError, type DsmApis, type DsmSession } from "./client.ts";
import type { DsmConfig } from "./config.ts";
import { latches, sessionLost } from "./errors.ts";
import type { DsmState } from "./state.ts";

/** A logout gets its own few seconds, also after the work's signal fired: a session left open counts against DSM's limit. */
const LOGOUT_TIMEOUT_MS = 5_000;
const LOGOUT_RETRY_MS = 250;

export const REAUTH_REQUIRED = "dsm_reauth_required";

/** What a latch tells the operator, once. */
export interface ActionRequired {
  certId: string;
  code: string;
  message: string;
}

export interface SessionDeps {
  name: string;
  cfg: DsmConfig;
  state: DsmState;
  clock: Clock;
  log: Logger;
  /** Called when the latch is set, not when it was already set. */
  onLatch: (a: ActionRequired) => void;
}

export function clientFor(name: string, cfg: DsmConfig, clock: Clock): DsmClient {
  const https = cfg.url.startsWith("https:");
  return new DsmClient({
    url: cfg.url,
    who: `dsm ${name}`,
    timeoutMs: cfg.timeoutSeconds * 1000,
    clock,
    ...(https && {
      tls: {
        rejectUnauthorized: !cfg.insecureSkipVerify,
        ...(cfg.caBundle !== undefined && { ca: readCaFile(cfg.caBundle, name) }),
        ...(cfg.tlsServerName !== undefined && { serverName: cfg.tlsServerName }),
      },
    }),
  });
}

/** The latch as an error: nothing is contacted while it is set. */
export function blockedError(d: Pick<SessionDeps, "name" | "state">): RotaError | null {
  const b = d.state.block();
  if (b === null) return null;
  return new RotaError(REAUTH_REQUIRED, `dsm ${d.name}: login refused at ${b.at} (${b.message}); nothing is sent to DSM until \`rota dsm login ${d.name}\` succeeds`, { noRetry: true });
}

/**
 * Runs `work` in a session for `certId`. `signal` bounds discovery, login and the work;
 * the logout has its own budget so a cancelled run leaves no session open.
 */
export async function withSession<T>(d: SessionDeps, certId: string, signal: AbortSignal, work: (apis: DsmApis, s: DsmSession, client: DsmClient) => Promise<T>): Promise<T> {
  const blocked = blockedError(d);
  if (blocked) throw blocked;
  const client = clientFor(d.name, d.cfg, d.clock);
  const passwd = password(d.name, d.cfg);
  const apis = await client.discover(signal);
  const login = () => loginLatching(d, client, apis, passwd, certId, signal);
  let session = await login();
  try {
    try {
      return await work(apis, session, client);
    } catch (err) {
      if (!(err instanceof DsmApiError && sessionLost(err.dsmCode))) throw err;
      d.log.info(`dsm ${d.name}: ${err.message}; logging in again`);
      await logout(d, client, apis, session);
      session = await login();
      return await work(apis, session, client);
    }
  } finally {
    await logout(d, client, apis, session);
  }
}

async function loginLatching(d: SessionDeps, client: DsmClient, apis: DsmApis, passwd: string, certId: string, signal: AbortSignal): Promise<DsmSession> {
  const device = d.state.device();
  try {
    return await client.login(apis, { account: d.cfg.username, passwd, deviceName: device?.device_name || d.cfg.deviceName, ...(device && { deviceId: device.device_id }) }, signal);
  } catch (err) {
    if (!(err instanceof DsmApiError && latches(err.dsmCode))) throw err;
    const message = `${err.message}; fix it, then run \`rota dsm login ${d.name}\``;
    const fresh = d.state.setBlock({ code: err.dsmCode, message: err.message.replace(`dsm ${d.name}: `, ""), at: d.clock.now().toISOString() });
    if (fresh) d.onLatch({ certId, code: REAUTH_REQUIRED, message });
    throw new RotaError(REAUTH_REQUIRED, message, { noRetry: true });
  }
}

/**
 * Only logged when it fails: the work's outcome is what the caller needs. Refused
 * connections are retried within the budget: an import restarts DSM's web server.
 */
export async function logout(d: Pick<SessionDeps, "name" | "clock" | "log">, client: DsmClient, apis: DsmApis, s: DsmSession): Promise<void> {
  const budget = new AbortController();
  const cancel = d.clock.setTimeout(() => budget.abort(), LOGOUT_TIMEOUT_MS);
  try {
    for (;;) {
      try {
        return await client.logout(apis, s, budget.signal);
      } catch (err) {
        if (!isConnectionError(err) || budget.signal.aborted) throw err;
      }
      await sleepOn(d.clock, LOGOUT_RETRY_MS, budget.signal);
    }
  } catch (err) {
    d.log.warn(`dsm ${d.name}: logout failed: ${describeError(err)}`);
  } finally {
    cancel();
  }
}

/** Read at each session, so a password changed on disk is used by the next one. */
export function password(name: string, cfg: DsmConfig): string {
  const ref = cfg.password;
  const who = `dsm ${name}`;
  if (ref === undefined) throw new RotaError("secret", `${who}: password_file or password_env is required`, { noRetry: true });
  let value: string;
  try {
    value = readSecret(ref);
  } catch (err) {
    throw new RotaError("secret", `${who}: cannot read the password from ${ref.from === "file" ? ref.path : ref.name}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`, { noRetry: true });
  }
  if (value === "") throw new RotaError("secret", `${who}: the password ${ref.from === "file" ? `file ${ref.path}` : `variable ${ref.name}`} is empty`, { noRetry: true });
  return value;
}

function readCaFile(path: string, name: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new RotaError("config", `dsm ${name}: cannot read ca_bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`, { noRetry: true });
  }
}
