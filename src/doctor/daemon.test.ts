import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../../test/harness/tmp.ts";
import { checkDaemon } from "./daemon.ts";

const dir = makeTempDir("rota-doctor-daemon-");
const socket = join(dir, "rota.sock");
const server = Bun.serve({
  unix: socket,
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return new Response("ok");
    if (path === "/api/status") return Response.json({ version: "0.1.0", pid: 42 });
    return new Response("no", { status: 404 });
  },
});
afterAll(() => {
  server.stop(true);
  removeTempDir(dir);
});

test("the same version: ok; another: warn restart it, reachable all the same", async () => {
  expect(await checkDaemon(socket, "0.1.0")).toEqual({ reachable: true, findings: [{ id: "daemon", status: "ok", message: `rota 0.1.0 answers at ${socket} (pid 42)` }] });
  const other = await checkDaemon(socket, "0.2.0");
  expect(other.reachable).toBe(true);
  expect(other.findings[0]).toMatchObject({ status: "warn", message: `the daemon at ${socket} runs rota 0.1.0, this binary is 0.2.0: restart it` });
});

test("no socket: unreachable, a warning (exit 3 is the caller's)", async () => {
  const r = await checkDaemon(join(dir, "none.sock"), "0.1.0");
  expect(r.reachable).toBe(false);
  expect(r.findings[0]).toMatchObject({ status: "warn", message: `not reachable at ${join(dir, "none.sock")}: no socket there; restart it` });
});
