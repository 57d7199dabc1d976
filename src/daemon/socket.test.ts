/** @module The API socket: a path that cannot be used fails as SocketPathError with a plain reason, never a raw errno. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenUnix, SocketPathError } from "./socket.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-socket-"));
afterAll(() => {
  Bun.spawnSync(["chattr", "-R", "-i", dir]);
  rmSync(dir, { recursive: true, force: true });
});

/** As the daemon serves the API. */
const serve = (unix: string) => Bun.serve({ unix, fetch: () => new Response("") });

async function failure(path: string): Promise<unknown> {
  try {
    (await listenUnix(path, serve)).stop(true);
  } catch (err) {
    return err;
  }
  throw new Error("listened");
}

describe("listenUnix", () => {
  test("binds a 0600 socket, creating its folder", async () => {
    const path = join(dir, "run", "rota.sock");
    const server = await listenUnix(path, serve);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      server.stop(true);
    }
  });

  test("a file at the path is refused, never replaced", async () => {
    const path = join(dir, "notes.txt");
    writeFileSync(path, "precious");
    const err = await failure(path);
    expect(err).toBeInstanceOf(SocketPathError);
    expect((err as SocketPathError).reason).toBe(`${path} exists and is not a socket; refusing to replace it`);
  });

  test.skipIf(process.getuid?.() !== 0)("a folder that cannot be written is a reason in words", async () => {
    const frozen = join(dir, "frozen");
    mkdirSync(frozen);
    expect(Bun.spawnSync(["chattr", "+i", frozen]).exitCode).toBe(0);
    for (const path of [join(frozen, "rota.sock"), join(frozen, "sub", "rota.sock")]) {
      const err = await failure(path);
      expect(err).toBeInstanceOf(SocketPathError);
      expect((err as SocketPathError).reason).toBe(`cannot listen on ${path}: operation not permitted`);
      expect((err as SocketPathError).message).toBe(`daemon: cannot listen on ${path}: operation not permitted`);
    }
  });
});
