/** @module The alert routes: the delivery log, and a test alert sent through the daemon's sinks. */
import { Hono } from "hono";
import { MAX_ALERTS_LIMIT, deliveryJson, type TestResultJson, type UnknownJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";
import { intParam } from "../query.ts";
import { allowSlowAnswer } from "../slow-answer.ts";

export function alertRoutes(deps: ApiDeps): Hono {
  const app = new Hono();

  app.get("/api/alerts", async (c) => {
    const limit = intParam(c.req.query("limit"), "limit", { min: 1, max: MAX_ALERTS_LIMIT, fallback: 50 });
    return c.json((await deps.store.listDeliveries(limit)).map(deliveryJson));
  });

  app.post("/api/alerts/test", async (c) => {
    // Empty is a value, not "every sink" or "no cert" (docs/api.md): a script's unset variable must not send to every sink.
    if (c.req.query("sink") === "") return c.json({ error: "sink must be the name of an [[alert]] sink" }, 400);
    if (c.req.query("cert") === "") return c.json({ error: "cert must be a cert id" }, 400);
    const sink = c.req.query("sink") ?? null;
    const certId = c.req.query("cert") ?? null;
    const sinks = deps.alerts.sinkNames();
    if (sink !== null && !sinks.includes(sink)) {
      const known = sinks.length > 0 ? `configured: ${sinks.join(", ")}` : "no [[alert]] is configured";
      return c.json<UnknownJson>({ error: `no alert sink named ${JSON.stringify(sink)} (${known})`, unknown: "sink" }, 404);
    }
    if (certId !== null && !deps.certs.find(certId)) return c.json<UnknownJson>({ error: `unknown cert ${JSON.stringify(certId)}`, unknown: "cert" }, 404);
    // A sink that needs its retries answers after 15 s or more: past Bun's 10 s, which would close the request unanswered.
    allowSlowAnswer(c);
    const results = await deps.alerts.test({ sink, certId });
    return c.json(results.map((r): TestResultJson => ({ sink: r.sink, outcome: r.outcome, error: r.error, attempts: r.attempts })));
  });

  return app;
}
