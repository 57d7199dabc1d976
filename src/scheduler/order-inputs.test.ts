/** @module orderInputs: which config changes count as a change to what a cert is ordered with; cooldownsEnded: which cooldowns such a change ends. */
import { expect, test } from "bun:test";
import type { CertConfig, RotaConfig } from "../config/schema.ts";
import { testConfig } from "../testing/config.ts";
import type { CertState } from "../store/types.ts";
import { cooldownsEnded, orderInputs } from "./order-inputs.ts";

const www: CertConfig = {
  id: "www",
  domains: ["www.example.com"],
  ca: "le",
  dcv: "web",
  install: ["files"],
  keyPath: "/var/lib/rota/keys/www.key",
  keyType: "ecdsa-p256",
  keyRotation: "never",
  renewThresholdDays: undefined,
  caOptions: { profile: "tlsserver" },
};

function config(cert: Partial<CertConfig> = {}, ca: Record<string, unknown> = { directoryUrl: "https://acme.example/dir", email: "ops@example.com" }, dcv: Record<string, unknown> = { root: "/srv/www" }): RotaConfig {
  const c = testConfig("/etc/rota", [{ ...www, ...cert }]);
  c.cas = [
    { name: "le", type: "acme", options: ca },
    { name: "other", type: "acme", options: { directoryUrl: "https://other.example/dir" } },
  ];
  c.dcvs = [{ name: "web", type: "webroot", options: dcv }];
  return c;
}

const base = orderInputs(config(), "www");

test("each key an order is made from changes it, and so does the [[ca]] or [[dcv]] section the cert names", () => {
  for (const changed of [
    config({ domains: ["www.example.com", "api.example.com"] }),
    config({ caOptions: { profile: "shortlived" } }),
    config({ ca: "other" }),
    config({ dcv: undefined }),
    config({ keyType: "rsa-2048" }),
    config({ keyPath: "/var/lib/rota/keys/other.key" }),
    config({ keyRotation: "every_renewal" }),
    config({}, { directoryUrl: "https://acme.example/dir", email: "ops@example.com", caBundle: "/etc/rota/ca.pem" }),
    config({}, undefined, { root: "/srv/other" }),
  ]) {
    expect(orderInputs(changed, "www")).not.toBe(base);
  }
});

test("install targets, thresholds, the daemon's settings and another cert's sections do not; nor the order of keys in the file", () => {
  const same = config({ install: ["files", "nginx"], renewThresholdDays: 30 }, { email: "ops@example.com", directoryUrl: "https://acme.example/dir" });
  same.daemon.checkIntervalSeconds = 60;
  same.cas[1] = { name: "other", type: "acme", options: { directoryUrl: "https://elsewhere.example/dir" } };
  expect(orderInputs(same, "www")).toBe(base);
});

test("a cert the config does not have has none", () => {
  expect(orderInputs(config(), "gone")).toBeNull();
});

test("cooldownsEnded: a cooldown still running whose failed run had other inputs; not a halt, a cooldown over, a state without inputs, nor a cert gone", () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const later = new Date(now.getTime() + 86_400_000);
  const state = (certId: string, over: Partial<CertState>): CertState => ({ certId, consecutiveFailures: 1, retryAt: later, lastError: "acme pb: boom", authzFailures: 0, haltedAt: null, inputs: "old", ...over });
  const states = [
    state("changed", {}),
    state("same", { inputs: "new" }),
    state("halted", { retryAt: null, haltedAt: now }),
    state("over", { retryAt: now }),
    state("unknown", { inputs: undefined }),
    state("gone", {}),
  ];
  const inputsOf = (id: string) => (id === "gone" ? null : "new");
  expect(cooldownsEnded(states, now, inputsOf).map((s) => s.certId)).toEqual(["changed"]);
});
