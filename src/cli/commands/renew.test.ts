/** @module `rota renew`'s lines: not due (the moment and the CA's window when known, the reason otherwise), and a refusal the daemon words. */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "citty";
import { createApi } from "../../api/app.ts";
import type { ApiDeps } from "../../api/ports.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import { CliExit, EXIT } from "../exit.ts";
import renew, { notDueWhy } from "./renew.ts";

test("names the moment, and the ARI window when the CA gave one", () => {
  const at = "2030-01-30T00:00:00.000Z";
  expect(notDueWhy({ status: "not_due", reason: "ok", renew_at: at, ari_window: null })).toBe(`renew at ${at}`);
  expect(notDueWhy({ status: "not_due", reason: "ok", renew_at: at, ari_window: { start: "2030-01-29T00:00:00.000Z", end: "2030-01-31T00:00:00.000Z" } })).toBe(
    `renew at ${at}, ARI window 2030-01-29T00:00:00.000Z – 2030-01-31T00:00:00.000Z`,
  );
  expect(notDueWhy({ status: "not_due", reason: "cannot tell: files: permission denied", renew_at: null, ari_window: null })).toBe("cannot tell: files: permission denied");
});

test("--new-key on a cluster: the daemon's reason, exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-renew-cli-"));
  const socket = join(dir, "rota.sock");
  const www = { config: { id: "www" } } as WatchedCert;
  const deps = {
    certs: { find: (id: string) => (id === "www" ? www : undefined) },
    actions: { renew: async () => ({ status: "started", renewalId: "r1", installOnly: false }) },
    cluster: {},
  } as unknown as ApiDeps;
  const server = Bun.serve({ unix: socket, fetch: createApi(deps).fetch });
  try {
    const err: unknown = await runCommand(renew, { rawArgs: ["www", "--new-key", "--socket", socket] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliExit);
    expect({ code: (err as CliExit).code, message: (err as CliExit).message }).toEqual({
      code: EXIT.failed,
      message: "rota: --new-key cannot work in cluster mode: every node must hold the same key (see docs/federation.md)",
    });
  } finally {
    await server.stop(true);
    rmSync(dir, { recursive: true, force: true });
  }
});
