/**
 * @module The ACME CA's self-check (`rota doctor`): one GET of the directory within 10 s,
 * trusting `ca_bundle` beside the system's roots, and the EAB key readable. No account call:
 * nothing is registered or ordered.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { readSecret } from "../../../config/secret.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import type { AcmeConfig } from "./config.ts";

export const DIRECTORY_TIMEOUT_MS = 10_000;

export async function checkAcme(cfg: AcmeConfig, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  if (cfg.eab) {
    try {
      if (readSecret(cfg.eab.hmacKey) === "") out.push({ status: "fail", message: "the EAB HMAC key is empty" });
    } catch (err) {
      out.push({ status: "fail", message: `cannot read the EAB HMAC key (${(err as NodeJS.ErrnoException).code ?? "unreadable"})` });
    }
  }
  if (ctx.offline) return [...out, { status: "skip", message: `offline: directory ${cfg.directoryUrl} not fetched` }];
  return [...out, await fetchDirectory(cfg, signal)];
}

async function fetchDirectory(cfg: AcmeConfig, signal: AbortSignal): Promise<CheckResult> {
  const url = cfg.directoryUrl;
  const hint = cfg.caBundle === undefined ? "check directory_url and this machine's network; a private CA needs ca_bundle" : "check directory_url, this machine's network and ca_bundle";
  let res: Response;
  try {
    const tls = cfg.caBundle === undefined ? undefined : { ca: [...rootCertificates, readFileSync(cfg.caBundle, "utf8")] };
    res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIRECTORY_TIMEOUT_MS)]), redirect: "follow", ...(tls && { tls }) });
  } catch (err) {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    const why = e.name === "TimeoutError" ? `no answer within ${DIRECTORY_TIMEOUT_MS / 1000} s` : typeof e.code === "string" && e.code !== "" ? e.code : String(e.message);
    return { status: "fail", message: `directory ${url} unreachable: ${why}`, hint };
  }
  let dir: Record<string, unknown> | undefined;
  try {
    dir = (await res.json()) as Record<string, unknown>;
  } catch {
    dir = undefined;
  }
  if (!res.ok || typeof dir?.newOrder !== "string" || typeof dir.newNonce !== "string") {
    return { status: "fail", message: `directory ${url} answered HTTP ${res.status}, not an ACME directory`, hint };
  }
  const profiles = dir.meta && typeof dir.meta === "object" ? (dir.meta as { profiles?: unknown }).profiles : undefined;
  const offered = profiles && typeof profiles === "object" ? `; profiles: ${Object.keys(profiles).join(", ")}` : "";
  return { status: "ok", message: `directory ${url} answers${offered}` };
}
