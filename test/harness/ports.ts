/** @module Free TCP ports on loopback for test servers. */
import { createServer } from "node:net";

// Ports already handed out by this process: the kernel may give the same ephemeral
// port twice in a row once it is closed, and two servers of one test would collide.
const handedOut = new Set<number>();

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("ports: no port from listen(0)"))));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. There is an unavoidable window
 * before the caller's server binds it; callers that see EADDRINUSE should retry.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await bindEphemeral();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("ports: no fresh port after 50 tries");
}
