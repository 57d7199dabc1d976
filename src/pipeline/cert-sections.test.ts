/**
 * @module A renewal request carries the cert's own sections and nothing else of the
 * config: not other certs, not the sections they name, not the daemon, audit, listener or alerts.
 */
import { expect, test } from "bun:test";
import type { BackendSection, CertConfig, InstallSection } from "../config/schema.ts";
import { testConfig } from "../testing/config.ts";
import { certSections, sectionKeys } from "./cert-sections.ts";

const section = (name: string, type: string): BackendSection => ({ name, type, options: { secret: `${name}-options` } });
const target = (name: string, type: string): InstallSection => ({ ...section(name, type), verifyServed: null });
const cert = (id: string, ca: string, dcv: string | undefined, install: string[]): CertConfig => ({
  id,
  domains: [`${id}.example`],
  ca,
  dcv,
  install,
  keyPath: `/k/${id}.key`,
  keyType: "ecdsa-p256",
  keyRotation: "never",
  renewThresholdDays: undefined,
});

const config = {
  ...testConfig("/etc/rota", [cert("a", "le", "web", ["nginx", "disk"]), cert("b", "internal", undefined, ["disk"]), ...Array.from({ length: 1000 }, (_, i) => cert(`x${i}`, "internal", undefined, ["other"]))]),
  cas: [section("internal", "local"), section("le", "acme")],
  dcvs: [section("web", "webroot"), section("dns", "cloudflare")],
  installs: [target("other", "filesystem"), target("disk", "filesystem"), target("nginx", "nginx")],
};

test("a cert's request holds its [[cert]] and the sections it names, in its order", () => {
  const a = certSections(config, "a");
  expect(a).toEqual({ cert: config.certs[0]!, ca: section("le", "acme"), dcv: section("web", "webroot"), installs: [target("nginx", "nginx"), target("disk", "filesystem")] });
  expect(sectionKeys(a)).toEqual(["ca le", "dcv web", "install nginx", "install disk"]);
  expect(certSections(config, "b")).toEqual({ cert: config.certs[1]!, ca: section("internal", "local"), dcv: null, installs: [target("disk", "filesystem")] });
});

test("its size does not grow with the fleet, and nothing of other certs or of the daemon is in it", () => {
  const wire = JSON.stringify(certSections(config, "b"));
  expect(wire.length).toBeLessThan(600);
  for (const absent of ['"x1"', "le-options", "web-options", "other-options", "stateDir", "rota.db", "alerts", "listener"]) expect(wire).not.toContain(absent);
});

test("an unknown cert is refused, not retried", () => {
  expect(() => certSections(config, "nope")).toThrow('pipeline: no cert "nope" in the config');
});

test("a reloaded config is read as it is now, not as the one before it", () => {
  expect(certSections(config, "b").cert.install).toEqual(["disk"]);
  const next = { ...config, certs: [cert("b", "le", undefined, ["nginx"]), cert("c", "internal", undefined, ["disk"])] };
  expect(certSections(next, "b")).toMatchObject({ cert: { ca: "le", install: ["nginx"] }, ca: section("le", "acme"), installs: [target("nginx", "nginx")] });
  expect(certSections(next, "c").cert.id).toBe("c");
  expect(() => certSections(next, "a")).toThrow('pipeline: no cert "a" in the config');
  expect(certSections(config, "a").cert.id).toBe("a");
});
