import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
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

test("each section comes with the checked certs it serves, for a CA with per-cert state to ask about", () => {
  const served = (xs: ReturnType<typeof sectionsToCheck>) => xs.map((x) => `${x.surface}:${x.section.name} ${x.certs.map((c) => c.id).join(",")}`);
  expect(served(sectionsToCheck(config, new Set(["www", "nas"]), false))).toEqual(["ca:le www", "ca:local nas", "dcv:cf www", "install:nginx www", "install:dsm nas", "install:files nas", "alert:mail www,nas"]);
  expect(served(sectionsToCheck(config, new Set(["nas"]), true))).toEqual(["ca:local nas", "install:dsm nas", "install:files nas", "alert:mail nas"]);
});

test("a type this rota does not know is skipped, and a backend that cannot be built is the finding", async () => {
  const ctx = { offline: true, user: { name: "root", uid: 0, gid: 0 } };
  const found = await checkBackends(config, [{ surface: "ca", section: section("x", "martian"), certs: [] }, { surface: "alert", section: { ...section("hook", "webhook"), options: { url: "::not a url" } }, certs: [] }], ctx);
  expect(found[0]).toEqual({ id: "ca:x", status: "skip", message: "type martian is unknown to this rota" });
  expect(found[1]!.id).toBe("alert:hook");
  expect(found[1]!.status).toBe("fail");
});

test("test_command runs as in a renewal: without any variable a *_env key of the config names, another section's too", async () => {
  process.env.ROTA_TEST_DOCTOR_TOKEN = "CANARY-doctor-7730";
  try {
    const sh = (key: string, script: string) => ({ key, argv: ["/bin/sh", "-c", script], timeoutSeconds: 10 });
    const nginx = {
      name: "nginx",
      type: "nginx",
      verifyServed: null,
      options: { dir: tmpdir(), uid: undefined, gid: undefined, combined: false, test: sh("test_command", 'test -z "$ROTA_TEST_DOCTOR_TOKEN"'), reload: sh("reload_command", "true") },
    };
    const withToken = { ...config, dcvs: [{ ...section("cf", "cloudflare"), options: { token: { from: "env", name: "ROTA_TEST_DOCTOR_TOKEN" } } }], installs: [nginx] };
    const found = await checkBackends(withToken, [{ surface: "install", section: nginx, certs: [] }], { offline: true, user: { name: "root", uid: 0, gid: 0 } });
    expect(found).toContainEqual({ id: "install:nginx", status: "ok", message: `test_command ${JSON.stringify(nginx.options.test.argv)} passed` });
  } finally {
    delete process.env.ROTA_TEST_DOCTOR_TOKEN;
  }
});
