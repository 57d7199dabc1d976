import { expect, test } from "bun:test";
import type { CertConfig } from "../config/schema.ts";
import { testConfig } from "../testing/config.ts";
import { checkBackends, sectionsToCheck } from "./backends.ts";

const cert = (id: string, ca: string, dcv: string | undefined, install: string[]): CertConfig => ({
  id,
  domains: [`${id}.example.test`],
  ca,
  dcv,
  install,
  keyPath: `/k/${id}.key`,
  keyType: "ecdsa-p256",
  keyRotation: "never",
  renewThresholdDays: undefined,
});
const section = (name: string, type: string) => ({ name, type, options: {} });

const config = {
  ...testConfig("/nowhere", [cert("www", "le", "cf", ["nginx"]), cert("nas", "local", undefined, ["dsm", "files"])]),
  cas: [section("le", "acme"), section("local", "local")],
  dcvs: [section("cf", "cloudflare")],
  installs: [
    { ...section("nginx", "nginx"), verifyServed: null },
    { ...section("dsm", "dsm"), verifyServed: null },
    { ...section("files", "filesystem"), verifyServed: null },
  ],
  alerts: [{ ...section("mail", "email"), events: ["*"], minSeverity: "warning" as const, repeatIntervalHours: 24 }],
};
const ids = (xs: ReturnType<typeof sectionsToCheck>) => xs.map((x) => `${x.surface}:${x.section.name}`);

test("every section in the issue's order: CAs, DCVs, installs, alerts, each in config order", () => {
  expect(ids(sectionsToCheck(config, new Set(["www", "nas"]), false))).toEqual(["ca:le", "ca:local", "dcv:cf", "install:nginx", "install:dsm", "install:files", "alert:mail"]);
});

test("narrowed to a cert: its CA, DCV and installs; alert sinks serve every cert and stay", () => {
  expect(ids(sectionsToCheck(config, new Set(["nas"]), true))).toEqual(["ca:local", "install:dsm", "install:files", "alert:mail"]);
  expect(ids(sectionsToCheck(config, new Set(["www"]), true))).toEqual(["ca:le", "dcv:cf", "install:nginx", "alert:mail"]);
});

test("a type this rota does not know is skipped, and a backend that cannot be built is the finding", async () => {
  const ctx = { offline: true, user: { name: "root", uid: 0, gid: 0 } };
  const found = await checkBackends(config, [{ surface: "ca", section: section("x", "martian") }, { surface: "alert", section: { ...section("hook", "webhook"), options: { url: "::not a url" } } }], ctx);
  expect(found[0]).toEqual({ id: "ca:x", status: "skip", message: "type martian is unknown to this rota" });
  expect(found[1]!.id).toBe("alert:hook");
  expect(found[1]!.status).toBe("fail");
});
