/** @module The cert routes: list (whole, or searched and paged), detail, the installed PEM, and asking for a renewal. */
import { Hono, type Context } from "hono";
import { CERT_QUERY_PARAMS, certPage, parseCertQuery } from "../cert-query.ts";
import { certDetail } from "../cert-detail.ts";
import { SAME_KEY_REASON } from "../../config/cluster.ts";
import { renewResultJson, type CertDetailJson, type ErrorJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";
import { CertRows } from "../cert-rows.ts";
import { ListReads } from "../list-reads.ts";
import { installedCert } from "../installed-pem.ts";
import { flagParam } from "../query.ts";
import { certListJson } from "../views.ts";

/** `rota renew --new-key` on a cluster: the reason `key_rotation = "every_renewal"` is refused for. */
export const NEW_KEY_IN_CLUSTER = `--new-key cannot work in cluster mode: ${SAME_KEY_REASON}`;

export function unknownCert(c: Context, id: string) {
  return c.json({ error: `unknown cert ${JSON.stringify(id)}` }, 404);
}

export function certRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  const rows = new CertRows();
  const reads = new ListReads();

  app.get("/api/certs", async (c) => {
    // Without a query the bare array stays, as `rota list --json` and scripts read it.
    if (!CERT_QUERY_PARAMS.some((p) => c.req.query(p) !== undefined)) return c.body(await certListJson(deps, rows, reads), 200, { "content-type": "application/json" });
    return c.json(await certPage(deps, parseCertQuery((name) => c.req.query(name))));
  });

  app.get("/api/certs/:id", async (c) => {
    const cert = deps.certs.find(c.req.param("id"));
    if (!cert) return unknownCert(c, c.req.param("id"));
    return c.json<CertDetailJson>((await certDetail(deps, cert)).detail);
  });

  // What the cert's targets are known to hold, the newest of it (installed-pem.ts). Not the
  // latest issued when no target holds it, and not read from the targets (a remote read per
  // request). Leaf then chain; the key never leaves the daemon.
  app.get("/api/certs/:id/pem", async (c) => {
    const cert = deps.certs.find(c.req.param("id"));
    if (!cert) return unknownCert(c, c.req.param("id"));
    const newest = await installedCert(deps, cert);
    if (!newest) return c.json({ error: `cert ${JSON.stringify(cert.config.id)} has nothing installed yet` }, 404);
    const pem = [newest.leafPem, newest.chainPem].map((p) => p.trim()).filter((p) => p !== "").join("\n") + "\n";
    return c.body(pem, 200, { "content-type": "application/x-pem-file" });
  });

  app.post("/api/certs/:id/renew", async (c) => {
    const cert = deps.certs.find(c.req.param("id"));
    if (!cert) return unknownCert(c, c.req.param("id"));
    const force = flagParam(c.req.query("force"), "force");
    const newKey = flagParam(c.req.query("new_key"), "new_key");
    // A key of this node's own would leave every other node unable to install the certificate.
    if (newKey && deps.cluster) return c.json<ErrorJson>({ error: NEW_KEY_IN_CLUSTER }, 409);
    const result = await deps.actions.renew(cert, { force, newKey });
    const code = result.status === "started" ? 202 : result.status === "not_due" ? 200 : 409;
    return c.json(renewResultJson(result), code);
  });

  return app;
}
