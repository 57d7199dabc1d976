/**
 * @module A built-in CA, like Caddy's internal issuer: no network and no domain
 * validation, for internal names and tests. Clients trust it by importing its `root.pem`
 * (`rota ca root`); each local CA has its own root, under `<state_dir>/local-ca/<name>/`.
 */
import type { BackendContext } from "../../context.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import type { CABackend, Checkable, DcvChallenge, Issued, SubmitRequest } from "../../types.ts";
import { Authority } from "./authority.ts";
import { DEFAULT_COMMON_NAME, type LocalCaConfig } from "./config.ts";
import { localCaDir } from "./layout.ts";
import { signLeaf } from "./leaf.ts";

const WHO = "local-ca";

/** What the local CA needs of the daemon's context: it keeps its keys under the state folder. */
export type LocalCaContext = Pick<BackendContext, "stateDir" | "clock" | "cluster">;

/** The CSR and names, checked by shape since the pipeline hands orders back untyped. */
interface LocalOrder {
  csrPem: string;
  domains: string[];
}

function isLocalOrder(o: unknown): o is LocalOrder {
  if (typeof o !== "object" || o === null) return false;
  const { csrPem, domains } = o as Partial<LocalOrder>;
  return typeof csrPem === "string" && Array.isArray(domains) && domains.every((d) => typeof d === "string");
}

export function createLocalCa(name: string, cfg: LocalCaConfig, ctx: LocalCaContext): CABackend & Checkable {
  const dir = localCaDir(ctx.stateDir, name);
  const authority = new Authority(dir, cfg.commonName ?? DEFAULT_COMMON_NAME, ctx.clock, { createRoot: !ctx.cluster });
  return {
    name,

    async check(_signal, checkCtx) {
      return (await import("./check.ts")).checkLocalCa(dir, checkCtx);
    },

    async submit(req: SubmitRequest, signal: AbortSignal): Promise<{ order: LocalOrder; challenges: DcvChallenge[] }> {
      throwIfAborted(signal, WHO);
      return { order: { csrPem: req.csrPem, domains: [...req.domains] }, challenges: [] };
    },

    async awaitIssuance(order: unknown, signal: AbortSignal): Promise<Issued> {
      throwIfAborted(signal, WHO);
      if (!isLocalOrder(order)) throw new RotaError("bad_order", `${WHO}: not an order from a local CA`, { noRetry: true });
      const issuer = await authority.intermediate();
      throwIfAborted(signal, WHO);
      const leafPem = await signLeaf(issuer, { ...order, validityDays: cfg.validityDays, now: ctx.clock.now() });
      throwIfAborted(signal, WHO);
      return { leafPem, chainPem: issuer.pem };
    },
  } satisfies CABackend & Checkable;
}
