/**
 * @module Against a real DSM, only when ROTA_LIVE_DSM_URL is set (with ROTA_LIVE_DSM_USER,
 * ROTA_LIVE_DSM_PASSWORD_FILE, and ROTA_LIVE_DSM_OTP when the account uses 2-step
 * verification): what `rota dsm login` does, which changes no certificate.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { createLogger } from "../../../log.ts";
import { dsmLogin } from "./login.ts";

const url = process.env.ROTA_LIVE_DSM_URL;
const dir = mkdtempSync(join(tmpdir(), "rota-dsm-live-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.if(url !== undefined)("live DSM: log in, list, log out", async () => {
  const cfg = {
    url: url!.replace(/\/+$/, ""),
    username: process.env.ROTA_LIVE_DSM_USER ?? "rota",
    password: { from: "file" as const, path: process.env.ROTA_LIVE_DSM_PASSWORD_FILE ?? "" },
    description: "rota",
    certificateId: undefined,
    create: true,
    makeDefault: false,
    deviceName: "rota-live-test",
    caBundle: undefined,
    tlsServerName: undefined,
    insecureSkipVerify: process.env.ROTA_LIVE_DSM_INSECURE === "1",
    timeoutSeconds: 30,
  };
  const otp = async () => process.env.ROTA_LIVE_DSM_OTP ?? "";
  const { line } = await dsmLogin("live", cfg, { stateDir: dir, clock: systemClock, log: createLogger({ level: "silent" }), otp }, new AbortController().signal);
  expect(line).toStartWith(`logged in to ${cfg.url} as ${cfg.username}`);
});
