/** @module Why the daemon is not reachable, in plain words, from what Bun's fetch({ unix }) throws. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient, unreachableMessage, unreachableReason } from "./client.ts";
import { CliExit, EXIT } from "./exit.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-client-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(socket: string): Promise<CliExit> {
  try {
    await new ApiClient({ kind: "socket", socket: socket }).call("GET", "/api/status");
  } catch (err) {
    if (err instanceof CliExit) return err;
    throw err;
  }
  throw new Error("the call succeeded");
}

describe("the daemon is not reachable", () => {
  test("no file at the path", async () => {
    const socket = join(dir, "missing.sock");
    const exit = await failure(socket);
    expect(exit.code).toBe(EXIT.unreachable);
    expect(exit.message).toBe(`rota: the daemon is not reachable at ${socket}: no socket there; is \`rota daemon\` running? (a daemon elsewhere: --config FILE or --socket PATH)`);
  });

  test("a regular file", async () => {
    const socket = join(dir, "file.sock");
    writeFileSync(socket, "");
    expect((await failure(socket)).message).toContain(": not a socket;");
  });

  test("a folder", async () => {
    const socket = join(dir, "folder.sock");
    mkdirSync(socket);
    expect((await failure(socket)).message).toContain(": not a socket but a folder;");
  });

  test("a stale socket left by a server that died", async () => {
    const socket = join(dir, "stale.sock");
    // SIGKILL leaves the socket file behind, as a crashed daemon would.
    const child = Bun.spawn([process.execPath, "-e", `require("node:net").createServer().listen(${JSON.stringify(socket)}, () => console.log("listening"))`], { stdout: "pipe" });
    await child.stdout.getReader().read();
    child.kill("SIGKILL");
    await child.exited;
    const exit = await failure(socket);
    expect(exit.code).toBe(EXIT.unreachable);
    expect(exit.message).toContain(": nothing is listening (a stale socket);");
  });

  test.each([
    ["ENOENT", "no socket there"],
    ["FailedToOpenSocket", "no socket there"],
    ["EACCES", "permission denied"],
    ["ENOTSOCK", "not a socket"],
    ["ECONNREFUSED", "nothing is listening (a stale socket, or not a socket)"],
    ["ENAMETOOLONG", "the path is too long for a unix socket"],
    ["ETIMEDOUT", "ETIMEDOUT"],
  ])("%s reads %j", (code, reason) => {
    expect(unreachableReason(code, join(dir, "never-created.sock"))).toBe(reason);
  });
});

test("a socket we may not open points at the daemon's user, not at starting one", () => {
  expect(unreachableMessage("EACCES", "/run/rota/rota.sock")).toBe(
    "rota: the daemon is not reachable at /run/rota/rota.sock: permission denied; run this as the user that runs `rota daemon` (a daemon elsewhere: --config FILE or --socket PATH)",
  );
});

describe("replies", () => {
  test("a 400 from the daemon is a usage error carrying its text", async () => {
    const socket = join(dir, "api.sock");
    const server = Bun.serve({ unix: socket, fetch: () => Response.json({ error: "limit must be an integer from 1 to 1000" }, { status: 400 }) });
    try {
      const exit = await new ApiClient({ kind: "socket", socket: socket }).call("GET", "/api/renewals?limit=5000").then(
        () => undefined,
        (err: unknown) => err as CliExit,
      );
      expect(exit?.code).toBe(EXIT.usage);
      expect(exit?.message).toBe("rota: the daemon refused the request: limit must be an integer from 1 to 1000");
    } finally {
      await server.stop(true);
    }
  });

  test("a stream cut off mid-way is reported with the caller's words, not Bun's", async () => {
    const socket = join(dir, "stream.sock");
    let serverSocket: Socket | undefined;
    // A raw server: headers and one event; the connection drops, without a final chunk, once the client has the event.
    const server = createServer((conn) => {
      conn.once("data", () => {
        conn.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
        const event = "event: step\ndata: {}\n\n";
        conn.write(`${event.length.toString(16)}\r\n${event}\r\n`);
      });
      serverSocket = conn;
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const events: string[] = [];
      const onEvent = (e: string) => {
        events.push(e);
        serverSocket?.destroy();
      };
      const exit = await new ApiClient({ kind: "socket", socket: socket }).stream("/api/renewals/r1/events", onEvent, "lost it").then(
        () => undefined,
        (err: unknown) => err as CliExit,
      );
      expect(events).toEqual(["step"]);
      expect(exit?.code).toBe(EXIT.failed);
      expect(exit?.message).toBe("lost it");
    } finally {
      serverSocket?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
