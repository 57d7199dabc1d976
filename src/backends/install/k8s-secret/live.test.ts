/**
 * @module A real cluster, only when `ROTA_LIVE_KUBECONFIG` names a kubeconfig (optional:
 * `ROTA_LIVE_K8S_CONTEXT`, `ROTA_LIVE_K8S_NAMESPACE`, `ROTA_LIVE_K8S_SECRET`, default
 * `rota-live-test`). It applies two certificates to the Secret and reads each back; the
 * Secret is left in place for a look with kubectl.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { makeInstallFixtures } from "../contract.ts";
import { createK8sSecretTarget } from "./k8s-secret.ts";

const kubeconfig = process.env.ROTA_LIVE_KUBECONFIG;
const dir = mkdtempSync(join(tmpdir(), "rota-k8s-live-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.if(Boolean(kubeconfig))("live cluster: apply two certificates to one Secret, each reads back", async () => {
  const fx = await makeInstallFixtures(dir, "live");
  const target = createK8sSecretTarget(
    "live",
    {
      secretName: process.env.ROTA_LIVE_K8S_SECRET ?? "rota-live-test",
      namespace: process.env.ROTA_LIVE_K8S_NAMESPACE,
      kubeconfig,
      context: process.env.ROTA_LIVE_K8S_CONTEXT,
      force: true,
      labels: { "rota-test": "live" },
      annotations: {},
      serviceAccountDir: "/nonexistent",
      timeoutSeconds: 30,
    },
    { clock: systemClock },
  );
  const signal = new AbortController().signal;
  for (const req of [fx.first, fx.second]) {
    await target.install(req, signal);
    expect(await target.readBack("live", signal)).toEqual({ state: "present", leafPem: req.leafPem });
  }
});
