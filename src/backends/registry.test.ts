/** @module The registry's static facts agree with the backends they describe. */
import { describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { systemClock } from "../clock.ts";
import { createLogger } from "../log.ts";
import type { BackendContext } from "./context.ts";
import { CA_TYPES, DCV_TYPES } from "./registry.ts";

const ctx: BackendContext = { stateDir: tmpdir(), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };

/** Options to build each DCV type with; a new type must add one, so its `kinds` are checked too. */
const SAMPLE_OPTIONS: Record<string, unknown> = {
  webroot: { path: tmpdir() },
  cloudflare: { apiUrl: "http://127.0.0.1:9/client/v4", apiToken: { from: "env", name: "CF_TOKEN" }, zoneId: undefined },
  namecheap: { apiUser: "alice", username: "alice", apiKey: { from: "env", name: "UNUSED" }, clientIp: "203.0.113.7", apiUrl: "http://127.0.0.1:9/xml.response" },
};

describe("DCV registry", () => {
  for (const [type, entry] of Object.entries(DCV_TYPES)) {
    // Validation trusts `kinds` (a wildcard needs dns-01) without building the backend.
    test(`${type}: kinds equal the built backend's supportedKinds()`, async () => {
      expect(SAMPLE_OPTIONS).toHaveProperty(type);
      const backend = await entry.create("sample", SAMPLE_OPTIONS[type], ctx);
      expect([...entry.kinds]).toEqual(backend.supportedKinds());
    });
  }
});

describe("CA registry", () => {
  // Validation refuses a DCV that solves none of the CA's kinds; a CA that needs a DCV must name some.
  for (const [type, entry] of Object.entries(CA_TYPES)) {
    test(`${type}: kinds are listed exactly when it needs a DCV, each one a DCV type solves`, () => {
      expect(entry.kinds.length > 0).toBe(entry.needsDcv);
      const solvable = new Set(Object.values(DCV_TYPES).flatMap((d) => d.kinds));
      expect(entry.kinds.every((k) => solvable.has(k))).toBe(true);
    });
  }
});
