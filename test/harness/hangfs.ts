/**
 * @module A mount that stops answering (test/harness/hangfs.py on FUSE): its root and the
 * named folders can be looked at (the kernel has them cached), anything in them blocks
 * the caller, like a NAS share whose server is gone. A "plug" process holds the filesystem's one worker so that
 * later callers stay killable. stop() kills the filesystem, which fails every blocked
 * call, and detaches the mount.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnServer, waitFor, type ServerProcess } from "./proc.ts";

export interface HangFs {
  mountpoint: string;
  server: ServerProcess;
  stop(): Promise<void>;
}

const mounted = (path: string) => readFileSync("/proc/mounts", "utf8").split("\n").some((line) => line.split(" ")[1] === path);

/** `folders`: names directly under the root that exist (and stay looked-up), e.g. a cert id's folder. */
export async function startHangFs(mountpoint: string, logDir: string, folders: string[] = []): Promise<HangFs> {
  mkdirSync(mountpoint, { recursive: true });
  // Debian's python3 and python3-fusepy (scripts/test-deps.sh), not whatever python3 comes first on PATH.
  const server = spawnServer({ name: "hangfs", logDir, cmd: ["/usr/bin/python3", join(import.meta.dir, "hangfs.py"), mountpoint, ...folders] });
  await waitFor(() => {
    if (!server.running) throw new Error(`hangfs exited:\n${server.output()}`);
    return mounted(mountpoint);
  }, 10_000, 50, `FUSE mount at ${mountpoint}`);
  // Looked up now, cached for a day: the daemon's config checks and path walks go through them later.
  for (const folder of ["", "plug", ...folders]) statSync(join(mountpoint, folder));
  const plug = Bun.spawn(["stat", join(mountpoint, "plug", "x")], { stdout: "ignore", stderr: "ignore" });
  await waitFor(() => readFileSync(`/proc/${plug.pid}/wchan`, "utf8") === "request_wait_answer", 10_000, 20, "the plug to take the filesystem's worker");
  return {
    mountpoint,
    server,
    async stop() {
      server.kill();
      await server.exited;
      Bun.spawnSync(["umount", "-l", mountpoint]);
    },
  };
}
