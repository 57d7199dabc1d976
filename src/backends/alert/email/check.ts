/**
 * @module The email sink's self-check (`rota doctor`): connect, TLS as configured, AUTH when
 * a username is set, then QUIT — nodemailer's `verify()`, which sends no message.
 */
import type { CheckContext, CheckResult } from "../../types.ts";
import type { EmailConfig } from "./config.ts";
import { readPassword, smtpError, transportOptions } from "./email.ts";

export async function checkEmail(name: string, cfg: EmailConfig, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const where = `${cfg.host}:${cfg.port}`;
  let password: string | undefined;
  try {
    password = readPassword(name, cfg);
  } catch (err) {
    return [{ status: "fail", message: (err as Error).message }];
  }
  if (ctx.offline) return [{ status: "skip", message: `offline: ${where} not contacted` }];
  const mailer = await import("nodemailer");
  const transport = mailer.createTransport(transportOptions(cfg, password));
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  try {
    await Promise.race([transport.verify(), aborted]);
  } catch (err) {
    const hint = cfg.tls === "none" ? undefined : "check host, port, tls, ca_bundle and the login";
    return [{ status: "fail", message: signal.aborted ? `${name}: ${where}: no answer in time` : smtpError(name, cfg, err, signal, password, "no SMTP session").message, ...(hint && { hint }) }];
  } finally {
    transport.close();
  }
  const tls = cfg.tls === "none" ? "no TLS" : cfg.tls === "starttls" ? "STARTTLS" : "TLS";
  const login = cfg.auth ? `, logged in as ${cfg.auth.username}` : ", no login";
  return [{ status: "ok", message: `${where}: connected, ${tls}${login}; no message sent` }];
}
